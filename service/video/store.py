"""Video store on a local directory: tenant-scoped ids over content hashes.

Owns `VideoStore` and `StoredVideo`. The id of a video is
`HMAC(key, tenant, sha256(bytes))[:48] + tag(tenant)` (64 lowercase hex): the same file
has a different id for every tenant, nobody can compute an id from the file without
the key, and the id's last 16 characters (`tag`, an HMAC of the tenant) say whose it
is, so ownership is checked without any lookup (`owned_by`). Files live at
`root/<tag>/<id>`. Invariants:
- Bytes are streamed to a temp file under `root/tmp` (same filesystem, so the final
  `os.link` is atomic) while the hash is computed; nothing is read twice.
- `save_stream` never touches the disk on the event loop: chunks are counted on the
  loop, gathered into batches of `BATCH_BYTES`, and each batch is hashed and written
  in a worker thread (`asyncio.to_thread`) while the next batch is being received.
  At most one batch is being written and one gathered per upload, so an upload holds
  at most `2 * BATCH_BYTES` (+ one network chunk) in memory, whatever its size; a
  slow disk slows the upload down (back-pressure), never the loop.
- The size cap (and the tenant's stored-bytes quota, `quota_left`) is enforced WHILE
  streaming, per chunk, before the chunk is buffered: the first chunk over it aborts
  the write with `VideoTooLarge` (or `StorageQuotaExceeded`) and the temp file is
  removed. No partial file ever reaches `root/<tag>/<id>`; an empty upload is
  refused with `EmptyFile`.
- `validate(temp_path)` (e.g. the probe) runs on the complete temp file BEFORE it is
  linked into place: a file that fails it never becomes visible, so no request can
  find, probe or delete a file that another request is about to reject (concurrent
  uploads of one non-video each fail on their own temp file).
- A duplicate upload (same tenant, same bytes) is stored once: the existing file is
  kept, `created=False`; `os.link` decides atomically which of two racing uploads
  created it. Tenants do not share files (a duplicate across tenants is stored twice).
- `path_for` accepts only 64 lowercase hex characters (`InvalidVideoId` otherwise),
  so no request text ever reaches a filesystem path.
- Temp files left by a crash are removed when the store is opened.
- A full disk (ENOSPC, EDQUOT) while writing or placing is `StorageFull` (507), and
  the temp file is removed like any aborted upload.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import hashlib
import hmac
import os
import re
import secrets
import stat
import threading
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from service.video.errors import (
    BYTES_SETTING,
    EmptyFile,
    InvalidVideoId,
    StorageFull,
    StorageQuotaExceeded,
    VideoNotFound,
    VideoTooLarge,
)

_ID = re.compile(r"[0-9a-f]{64}")
PATH_MEMO = 4096  # ids whose path is memoised (cleared when full)
BATCH_BYTES = 1 << 20  # bytes handed to a worker thread per write
DEFAULT_TENANT = "default"
Validate = Callable[[Path], None]


@dataclass(frozen=True)
class StoredVideo:
    id: str
    path: Path
    size: int
    created: bool


@contextlib.contextmanager
def disk_full_is_507() -> Iterator[None]:
    """A full disk or quota (ENOSPC, EDQUOT) is `StorageFull` (507), not a bare OSError."""
    try:
        yield
    except OSError as exc:
        if exc.errno in (errno.ENOSPC, errno.EDQUOT):
            raise StorageFull("the server's video storage is full; retry later") from exc
        raise


class _Writer:
    """One in-progress upload: a temp file, a running hash and size.

    `accept` (cheap, on the caller's thread) counts a chunk against the cap; `flush`
    (blocking: hash + write) and `commit` run in a worker thread for async callers.
    `_lock` serialises `flush` and `commit` with `abort`, so the file is never closed or
    removed under a running write or rename.
    """

    def __init__(self, store: VideoStore, tenant: str = DEFAULT_TENANT,
                 quota_left: int | None = None) -> None:
        self.store = store
        self.tenant = tenant
        self.quota_left = quota_left
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
        if self.quota_left is not None and self.size > self.quota_left:
            raise StorageQuotaExceeded(
                "this upload would exceed the tenant's stored-bytes quota "
                "(O3_TENANT_MAX_STORED_BYTES); delete videos first")

    def flush(self, batch: list[bytes]) -> None:
        """Hash and write accepted chunks (blocking; a worker thread for async callers)."""
        with self._lock:
            if self.file.closed:
                return  # aborted while this batch waited for a thread
            with disk_full_is_507():
                for chunk in batch:
                    self.hash.update(chunk)
                    self.file.write(chunk)

    def write(self, chunk: bytes) -> None:
        self.accept(chunk)
        self.flush([chunk])

    def commit(self, validate: Validate | None = None) -> StoredVideo:
        with self._lock:  # an abort (a cancelled request) waits until the link is done
            return self._commit(validate)

    def _commit(self, validate: Validate | None) -> StoredVideo:
        with disk_full_is_507():  # close flushes the last buffered bytes
            self.file.close()
        if self.size == 0:
            raise EmptyFile("the uploaded file is empty (0 bytes)")
        video_id = self.store.video_id(self.tenant, self.hash.hexdigest())
        final = self.store.path_for(video_id)
        try:  # one stat, no exists-then-stat: a concurrent delete must not raise here
            kept = final.stat().st_size
        except FileNotFoundError:
            kept = None
        if kept is not None:
            return StoredVideo(video_id, final, kept, created=False)
        if validate is not None:
            validate(self.tmp)  # on our own temp file: nobody else can see or delete it
        try:
            with disk_full_is_507():
                final.parent.mkdir(exist_ok=True)
                os.link(self.tmp, final)  # atomic; a race's loser keeps the winner's file
        except FileExistsError:
            return StoredVideo(video_id, final, self.size, created=False)
        return StoredVideo(video_id, final, self.size, created=True)

    def abort(self) -> None:
        """Close and remove the temp file (after a commit it is a second link, or
        unused). Waits for a running flush to finish (at most one batch) so the file is
        not closed under it."""
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
    def __init__(self, root: Path, max_bytes: int, id_key: bytes | None = None) -> None:
        self.root = Path(root)
        self.max_bytes = max_bytes
        self.id_key = id_key if id_key is not None else secrets.token_bytes(32)
        self.tmp_dir = self.root / "tmp"
        self.tmp_dir.mkdir(parents=True, exist_ok=True)
        self._paths: dict[str, Path] = {}  # id -> path memo (a Path join per request cost)
        for stale in self.tmp_dir.glob("upload-*.part"):
            stale.unlink(missing_ok=True)
        self._tags: dict[str, str] = {}

    # ---- ids ----------------------------------------------------------------------
    def _mac(self, *parts: str) -> str:
        return hmac.new(self.id_key, "\0".join(parts).encode(), hashlib.sha256).hexdigest()

    def tag(self, tenant: str) -> str:
        """The last 16 hex characters of every id of `tenant`'s videos."""
        tag = self._tags.get(tenant)
        if tag is None:
            tag = self._tags.setdefault(tenant, self._mac("tenant", tenant)[:16])
        return tag

    def video_id(self, tenant: str, sha256_hex: str) -> str:
        return self._mac("video", tenant, sha256_hex)[:48] + self.tag(tenant)

    def owned_by(self, video_id: str, tenant: str) -> bool:
        return video_id[48:] == self.tag(tenant)

    def usage(self, tenant: str) -> int:
        """Bytes stored by `tenant` (blocking: one stat per video)."""
        total = 0
        try:
            with os.scandir(self.root / self.tag(tenant)) as entries:
                for entry in entries:
                    try:
                        total += entry.stat().st_size
                    except FileNotFoundError:
                        continue
        except FileNotFoundError:
            return 0
        return total

    # ---- bytes --------------------------------------------------------------------
    async def save_stream(self, chunks: AsyncIterator[bytes], *,
                          tenant: str = DEFAULT_TENANT, validate: Validate | None = None,
                          quota_left: int | None = None) -> StoredVideo:
        """Stream an upload to the store, off the event loop; see the module invariants."""
        writer = _Writer(self, tenant, quota_left)
        try:
            await _pump(writer, chunks)
            return await asyncio.to_thread(writer.commit, validate)
        finally:
            writer.abort()  # removes the temp file (a second link after a commit)

    def save_bytes(self, data: bytes, tenant: str = DEFAULT_TENANT) -> StoredVideo:
        writer = _Writer(self, tenant)
        try:
            writer.write(data)
            return writer.commit()
        finally:
            writer.abort()

    def path_for(self, video_id: str) -> Path:
        """Where `video_id` is stored (whether or not it exists); 400 for a malformed id.
        Memoised per valid id (bounded): ids are immutable, the file is still stat'ed."""
        path = self._paths.get(video_id) if isinstance(video_id, str) else None
        if path is not None:
            return path
        if not isinstance(video_id, str) or not _ID.fullmatch(video_id):
            raise InvalidVideoId(
                "video_id must be a 64-character lowercase hex id returned by an upload",
                param="video_id",
            )
        if len(self._paths) >= PATH_MEMO:
            self._paths.clear()
        path = self._paths[video_id] = self.root / video_id[48:] / video_id
        return path

    def exists(self, video_id: str) -> bool:
        return self.path_for(video_id).is_file()

    def get(self, video_id: str) -> StoredVideo:
        """The stored video, or `VideoNotFound`."""
        return self.get_at(video_id, self.path_for(video_id))

    def get_at(self, video_id: str, path: Path) -> StoredVideo:
        """`get` for a `path` that `path_for(video_id)` already returned."""
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
