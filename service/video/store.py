"""Content-addressed video store on a local directory.

Owns `VideoStore` and `StoredVideo`. The id of a video is the sha256 (lowercase hex)
of its bytes. Invariants:
- Bytes are streamed to a temp file under `root/tmp` (same filesystem, so the final
  `os.replace` is atomic) while the hash is computed; nothing is read twice.
- The size cap is enforced WHILE streaming: the first chunk over the cap aborts the
  write with `VideoTooLarge` and the temp file is removed. No partial file ever
  reaches `root/<id>`; an empty upload is refused with `EmptyFile`.
- A duplicate upload is stored once: the existing file is kept, `created=False`.
- `path_for` accepts only 64 lowercase hex characters (`InvalidVideoId` otherwise),
  so no request text ever reaches a filesystem path.
- Temp files left by a crash are removed when the store is opened.
"""

from __future__ import annotations

import hashlib
import os
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from service.video.errors import (
    BYTES_SETTING,
    EmptyFile,
    InvalidVideoId,
    VideoNotFound,
    VideoTooLarge,
)

_ID = re.compile(r"[0-9a-f]{64}")


@dataclass(frozen=True)
class StoredVideo:
    id: str
    path: Path
    size: int
    created: bool


class _Writer:
    """One in-progress upload: a temp file, a running hash and size."""

    def __init__(self, store: VideoStore) -> None:
        self.store = store
        self.tmp = store.tmp_dir / f"upload-{secrets.token_hex(8)}.part"
        self.file: BinaryIO = self.tmp.open("xb")
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            raise VideoTooLarge(
                f"upload exceeds the limit of {self.store.max_bytes} bytes ({BYTES_SETTING})"
            )
        self.hash.update(chunk)
        self.file.write(chunk)

    def commit(self) -> StoredVideo:
        self.file.close()
        if self.size == 0:
            raise EmptyFile("the uploaded file is empty (0 bytes)")
        video_id = self.hash.hexdigest()
        final = self.store.path_for(video_id)
        if final.exists():
            self.tmp.unlink()
            return StoredVideo(video_id, final, final.stat().st_size, created=False)
        os.replace(self.tmp, final)
        return StoredVideo(video_id, final, self.size, created=True)

    def abort(self) -> None:
        self.file.close()
        self.tmp.unlink(missing_ok=True)


class VideoStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp_dir.glob("upload-*.part"):
            stale.unlink(missing_ok=True)

    async def save_stream(self, chunks: AsyncIterator[bytes]) -> StoredVideo:
        """Stream an upload to the store; see the module invariants."""
        writer = _Writer(self)
        try:
            async for chunk in chunks:
                writer.write(chunk)
            return writer.commit()
        finally:
            writer.abort()  # no-op after a commit (file closed, temp renamed)

    def save_bytes(self, data: bytes) -> StoredVideo:
        writer = _Writer(self)
        try:
            writer.write(data)
            return writer.commit()
        finally:
            writer.abort()

    def path_for(self, video_id: str) -> Path:
        if not isinstance(video_id, str) or not _ID.fullmatch(video_id):
            raise InvalidVideoId(
                "video_id must be the 64-character lowercase hex sha256 of the video",
                param="video_id",
            )
        return self.root / video_id

    def exists(self, video_id: str) -> bool:
        return self.path_for(video_id).is_file()

    def get(self, video_id: str) -> StoredVideo:
        """The stored video, or `VideoNotFound`."""
        path = self.path_for(video_id)
        if not path.is_file():
            raise VideoNotFound(f"no video with id {video_id}", param="video_id")
        return StoredVideo(video_id, path, path.stat().st_size, created=False)

    def delete(self, video_id: str) -> bool:
        """Remove a video; False when there was none."""
        path = self.path_for(video_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
