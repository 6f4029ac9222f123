"""Streaming multipart bodies for video uploads, with bounded memory and progress.

`MultipartUpload` describes one `file` part; `iter_sync()` / `iter_async()` yield the
body in `chunk_size` pieces straight from the file, so a 200 MB upload holds one chunk
in memory at a time. Each call makes a FRESH iterator (the file is re-opened or
re-seeked), which is what lets the client retry a refused upload.

Invariants: `content_length` equals the number of bytes the iterators yield; the
progress callback receives `(bytes_of_file_sent, file_size)` after every chunk and is
monotone within one attempt.
"""

from __future__ import annotations

import io
import mimetypes
import os
import secrets
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

ProgressCallback = Callable[[int, int], None]
"""Called as `progress(sent, total)` with byte counts."""

VideoSource = str | os.PathLike[str] | bytes | BinaryIO
"""What the SDK accepts as a video: a path, raw bytes or a binary file object."""

CHUNK_SIZE = 1 << 20


@dataclass
class MultipartUpload:
    """One multipart/form-data body with a single `file` part."""

    source: Path | bytes | BinaryIO
    filename: str
    size: int
    content_type: str = "video/mp4"
    field_name: str = "file"
    chunk_size: int = CHUNK_SIZE
    boundary: str = field(default_factory=lambda: "o3-" + secrets.token_hex(16))
    _start: int = field(init=False, default=0)

    @property
    def headers(self) -> dict[str, str]:
        return {
            "Content-Type": f"multipart/form-data; boundary={self.boundary}",
            "Content-Length": str(self.content_length),
        }

    @property
    def content_length(self) -> int:
        return len(self._head()) + self.size + len(self._tail())

    def iter_sync(self, progress: ProgressCallback | None = None) -> Iterator[bytes]:
        yield self._head()
        sent = 0
        with self._open() as fh:
            while chunk := fh.read(self.chunk_size):
                sent += len(chunk)
                yield chunk
                if progress is not None:
                    progress(sent, self.size)
        yield self._tail()

    async def iter_async(self, progress: ProgressCallback | None = None) -> AsyncIterator[bytes]:
        for chunk in self.iter_sync(progress):
            yield chunk

    def _head(self) -> bytes:
        name = self.filename.replace('"', "_").replace("\r", "").replace("\n", "")
        return (
            f"--{self.boundary}\r\n"
            f'Content-Disposition: form-data; name="{self.field_name}"; filename="{name}"\r\n'
            f"Content-Type: {self.content_type}\r\n\r\n"
        ).encode()

    def _tail(self) -> bytes:
        return f"\r\n--{self.boundary}--\r\n".encode()

    def _open(self) -> _Reader:
        if isinstance(self.source, Path):
            return _Reader(self.source.open("rb"), close=True)
        if isinstance(self.source, bytes):
            return _Reader(io.BytesIO(self.source), close=True)
        self.source.seek(self._start)
        return _Reader(self.source, close=False)

    def __post_init__(self) -> None:
        self._start = 0 if isinstance(self.source, Path | bytes) else self.source.tell()


class _Reader:
    """A context manager that closes only the files it opened itself."""

    def __init__(self, fh: BinaryIO, *, close: bool) -> None:
        self.fh, self.close = fh, close

    def __enter__(self) -> BinaryIO:
        return self.fh

    def __exit__(self, *exc: object) -> None:
        if self.close:
            self.fh.close()


def make_upload(video: str | os.PathLike[str] | bytes | BinaryIO) -> MultipartUpload:
    """A multipart body for a path, bytes or a seekable binary file object."""
    if isinstance(video, bytes):
        return MultipartUpload(video, "video.mp4", len(video))
    if isinstance(video, str | os.PathLike):
        path = Path(video)
        if not path.is_file():
            raise FileNotFoundError(f"no such video file: {path}")
        return MultipartUpload(path, path.name, path.stat().st_size, _guess_type(path.name))
    name = os.path.basename(str(getattr(video, "name", "video.mp4")))
    start = video.tell()
    size = video.seek(0, io.SEEK_END) - start
    video.seek(start)
    return MultipartUpload(video, name, size, _guess_type(name))


def _guess_type(name: str) -> str:
    guessed, _ = mimetypes.guess_type(name)
    return guessed if guessed and guessed.startswith("video/") else "application/octet-stream"
