"""Content-addressed video store on a local directory.

Owns `VideoStore` and `StoredVideo`. The id of a video is the sha256 (lowercase hex)
of its bytes. Invariants:
- Bytes are streamed to a temp file under `root/tmp` (same filesystem, so the final
  `os.replace` is atomic) while the hash is computed; nothing is read twice.
- `save_stream` never touches the disk on the event loop: chunks are counted on the
  loop, gathered into batches of `BATCH_BYTES`, and each batch is hashed and written
  in a worker thread (`asyncio.to_thread`) while the next batch is being received.
  At most one batch is being written and one gathered per upload, so an upload holds
  at most `2 * BATCH_BYTES` (+ one network chunk) in memory, whatever its size; a
  slow disk slows the upload down (back-pressure), never the loop.
- The size cap is enforced WHILE streaming, per chunk, before the chunk is buffered:
  the first chunk over the cap aborts the write with `VideoTooLarge` and the temp file
  is removed. No partial file ever reaches `root/<id>`; an empty upload is refused
  with `EmptyFile`.
- A duplicate upload is stored once: the existing file is kept, `created=False`.
- `path_for` accepts only 64 lowercase hex characters (`InvalidVideoId` otherwise),
  so no request text ever reaches a filesystem path.
- Temp files left by a crash are removed when the store is opened.
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import secrets
import stat
import threading
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
BATCH_BYTES = 1 << 20  # bytes handed to a worker thread per write


@dataclass(frozen=True)
class StoredVideo:
    id: str
    path: Path
    size: int
    created: bool


class _Writer:
    """One in-progress upload: a temp file, a running hash and size.

    `accept` (cheap, on the caller's thread) counts a chunk against the cap; `flush`
    (blocking: hash + write) and `commit` run in a worker thread for async callers.
    `_lock` serialises `flush` and `commit` with `abort`, so the file is never closed or
    removed under a running write or rename.
    """

    def __init__(self, store: VideoStore) -> None:
        self.store = store
        self.tmp = store.tmp_dir / f"upload-{secrets.token_hex(8)}.part"
        self.file: BinaryIO = self.tmp.open("xb")
        self.hash = hashlib.sha256()
        self.size = 0
        self._lock = threading.Lock()

    def accept(self, chunk: bytes) -> None:
        self.size += len(chunk)
        if self.size > self.store.max_bytes:
            raise VideoTooLarge(
                f"upload exceeds the limit of {self.store.max_bytes} bytes ({BYTES_SETTING})"
            )

    def flush(self, batch: list[bytes]) -> None:
        """Hash and write accepted chunks (blocking; a worker thread for async callers)."""
        with self._lock:
            if self.file.closed:
                return  # aborted while this batch waited for a thread
            for chunk in batch:
                self.hash.update(chunk)
                self.file.write(chunk)

    def write(self, chunk: bytes) -> None:
        self.accept(chunk)
        self.flush([chunk])

    def commit(self) -> StoredVideo:
        with self._lock:  # an abort (a cancelled request) waits until the rename is done
            return self._commit()

    def _commit(self) -> StoredVideo:
        self.file.close()
        if self.size == 0:
            raise EmptyFile("the uploaded file is empty (0 bytes)")
        video_id = self.hash.hexdigest()
        final = self.store.path_for(video_id)
        try:  # one stat, no exists-then-stat: a concurrent delete must not raise here
            kept = final.stat().st_size
        except FileNotFoundError:
            kept = None
        if kept is not None:
            self.tmp.unlink()
            return StoredVideo(video_id, final, kept, created=False)
        os.replace(self.tmp, final)
        return StoredVideo(video_id, final, self.size, created=True)

    def abort(self) -> None:
        """Close and remove the temp file (no-op after a commit). Waits for a running
        flush to finish (at most one batch) so the file is not closed under it."""
        with self._lock:
            self.file.close()
        self.tmp.unlink(missing_ok=True)


def _retrieve(task: asyncio.Task[None]) -> None:
    """Done-callback of an abandoned flush: consume its outcome (no 'never retrieved')."""
    if not task.cancelled():
        task.exception()


async def _pump(writer: _Writer, chunks: AsyncIterator[bytes]) -> None:
    """Feed `chunks` to `writer`: count on the loop, hash + write batches in a thread,
    one batch in flight while the next is gathered (the memory bound)."""
    batch: list[bytes] = []
    held = 0
    inflight: asyncio.Task[None] | None = None
    try:
        async for chunk in chunks:
            writer.accept(chunk)
            batch.append(chunk)
            held += len(chunk)
            if held >= BATCH_BYTES:
                if inflight is not None:
                    await inflight
                inflight = asyncio.ensure_future(asyncio.to_thread(writer.flush, batch))
                batch, held = [], 0
        if inflight is not None:
            await inflight
        if batch:
            await asyncio.to_thread(writer.flush, batch)
    finally:
        if inflight is not None and not inflight.done():
            inflight.add_done_callback(_retrieve)


class VideoStore:
    def __init__(self, root: Path, max_bytes: int) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        for stale in self.tmp_dir.glob("upload-*.part"):
            stale.unlink(missing_ok=True)

    async def save_stream(self, chunks: AsyncIterator[bytes]) -> StoredVideo:
        """Stream an upload to the store, off the event loop; see the module invariants."""
        writer = _Writer(self)
        try:
            await _pump(writer, chunks)
            return await asyncio.to_thread(writer.commit)
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
        try:
            st = path.stat()  # one system call: this is on every request's path
        except FileNotFoundError:
            st = None
        if st is None or not stat.S_ISREG(st.st_mode):
            raise VideoNotFound(f"no video with id {video_id}", param="video_id")
        return StoredVideo(video_id, path, st.st_size, created=False)

    def delete(self, video_id: str) -> bool:
        """Remove a video; False when there was none."""
        path = self.path_for(video_id)
        try:
            path.unlink()
        except FileNotFoundError:
            return False
        return True
