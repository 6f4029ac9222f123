"""The streaming multipart body: byte-exact, re-iterable, progress reported per chunk."""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from python_multipart.multipart import parse_options_header  # a server-side parser

from clients.sdk.upload import MultipartUpload, make_upload


def _parse(body: bytes, content_type: str) -> tuple[dict[str, str], bytes]:
    """Split a one-part multipart body with the standard library's email parser."""
    from email.parser import BytesParser
    from email.policy import HTTP

    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {content_type}\r\n\r\n".encode() + body
    )
    (part,) = list(msg.iter_parts())
    return dict(part.items()), part.get_payload(decode=True)


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(bytes(range(256)) * 1000 + b"tail")
    return path


SOURCES = [
    # (how the video is given) -- every accepted input kind streams the same bytes
    "path",  # a filesystem path
    "bytes",  # raw bytes in memory
    "file",  # an open binary file (not closed by the SDK)
]


@pytest.mark.parametrize("kind", SOURCES)
def test_body_roundtrips(kind: str, video_file: Path) -> None:
    data = video_file.read_bytes()
    src: object = {"path": video_file, "bytes": data, "file": video_file.open("rb")}[kind]
    up = make_upload(src)  # type: ignore[arg-type]
    up.chunk_size = 4096
    body = b"".join(up.iter_sync())
    assert len(body) == up.content_length
    headers, payload = _parse(body, up.headers["Content-Type"])
    assert payload == data
    assert 'name="file"' in headers["Content-Disposition"]
    ctype, params = parse_options_header(up.headers["Content-Type"])
    assert ctype == b"multipart/form-data" and params[b"boundary"] == up.boundary.encode()
    if kind == "file":
        assert not src.closed  # type: ignore[attr-defined]
        # re-iterating (a retry) yields the same body again
        assert b"".join(up.iter_sync()) == body


def test_progress_is_monotone_and_complete(video_file: Path) -> None:
    seen: list[tuple[int, int]] = []
    up = make_upload(video_file)
    up.chunk_size = 10_000
    for _ in up.iter_sync(lambda s, t: seen.append((s, t))):
        pass
    size = video_file.stat().st_size
    assert seen[-1] == (size, size)
    assert [s for s, _ in seen] == sorted(s for s, _ in seen)
    assert len(seen) == -(-size // 10_000)  # one call per chunk


def test_file_object_uploads_from_its_current_position() -> None:
    fh = io.BytesIO(b"HEADERjunk" + b"video-bytes")
    fh.seek(10)
    up = make_upload(fh)
    assert up.size == len(b"video-bytes")
    _, payload = _parse(b"".join(up.iter_sync()), up.headers["Content-Type"])
    assert payload == b"video-bytes"


def test_filename_is_sanitised() -> None:
    up = MultipartUpload(b"x", 'evil"\r\nname.mp4', 1)
    head = b"".join(up.iter_sync()).split(b"\r\n\r\n")[0]
    assert b'filename="evil_name.mp4"' in head


def test_missing_path_fails_early(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        make_upload(tmp_path / "nope.mp4")


async def test_async_iterator_matches_sync(video_file: Path) -> None:
    up = make_upload(video_file)
    chunks = [c async for c in up.iter_async()]
    assert b"".join(chunks) == b"".join(up.iter_sync())
