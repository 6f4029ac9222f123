"""The tenant-scoped store on a real directory."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from service.video.errors import (
    EmptyFile,
    InvalidVideoId,
    StorageQuotaExceeded,
    VideoNotFound,
    VideoTooLarge,
)
from service.video.store import VideoStore


async def chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for p in parts:
        yield p


def files_in(store: VideoStore) -> list[Path]:
    return sorted(p for p in store.root.rglob("*") if p.is_file())


async def test_stream_is_hashed_and_stored(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=1000)
    parts = [b"abc" * 10, b"xyz" * 20]
    saved = await store.save_stream(chunks(parts))
    data = b"".join(parts)
    # the id is an HMAC of tenant and content hash, never the bare sha256
    assert saved.id == store.video_id("default", hashlib.sha256(data).hexdigest())
    assert saved.id != hashlib.sha256(data).hexdigest() and len(saved.id) == 64
    assert saved.created and saved.size == len(data)
    assert saved.path.read_bytes() == data
    assert store.exists(saved.id) and store.get(saved.id).path == saved.path


async def test_duplicate_is_stored_once(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=1000)
    first = await store.save_stream(chunks([b"same bytes"]))
    again = await store.save_stream(chunks([b"same ", b"bytes"]))  # other chunking
    assert (again.id, again.path, again.created) == (first.id, first.path, False)
    assert files_in(store) == [first.path]


async def test_cap_enforced_while_streaming(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=100)
    consumed = 0

    async def endless() -> AsyncIterator[bytes]:
        nonlocal consumed
        while True:
            consumed += 1
            yield b"x" * 40

    with pytest.raises(VideoTooLarge, match="100 bytes"):
        await store.save_stream(endless())
    assert consumed == 3  # stopped at the first chunk over the cap, not at the end
    assert files_in(store) == []  # the partial temp file is gone


async def test_failed_upload_leaves_nothing(tmp_path: Path) -> None:
    # The client disconnects mid-upload: the producer raises.
    store = VideoStore(tmp_path, max_bytes=1000)

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionError("client went away")

    with pytest.raises(ConnectionError):
        await store.save_stream(broken())
    assert files_in(store) == []


async def test_empty_upload_refused(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=1000)
    with pytest.raises(EmptyFile):
        await store.save_stream(chunks([]))
    assert files_in(store) == []


def test_save_bytes_and_delete(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=1000)
    saved = store.save_bytes(b"video")
    assert store.delete(saved.id) and not store.exists(saved.id)
    assert not store.delete(saved.id)  # second delete: nothing there
    with pytest.raises(VideoNotFound):
        store.get(saved.id)
    with pytest.raises(VideoTooLarge):
        store.save_bytes(b"x" * 1001)
    assert files_in(store) == []


def test_stale_temp_files_removed_on_open(tmp_path: Path) -> None:
    (tmp_path / "tmp").mkdir()
    (tmp_path / "tmp" / "upload-dead.part").write_bytes(b"left by a crash")
    store = VideoStore(tmp_path, max_bytes=1000)
    assert files_in(store) == []


# ids that must never reach the filesystem
BAD_IDS = [
    "../../etc/passwd",  # path traversal
    "A" * 64,  # uppercase hex is not our spelling
    "a" * 63,  # too short
    "a" * 65,  # too long
    "g" * 64,  # not hex
    "a" * 64 + "\n",  # trailing newline ($ would accept it; fullmatch does not)
    "",  # empty
]


@pytest.mark.parametrize("bad", BAD_IDS)
def test_invalid_ids_refused(tmp_path: Path, bad: str) -> None:
    store = VideoStore(tmp_path, max_bytes=10)
    with pytest.raises(InvalidVideoId):
        store.path_for(bad)


async def test_ids_differ_per_tenant_and_need_the_key(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=1000, id_key=b"k1")
    a = await store.save_stream(chunks([b"same bytes"]), tenant="acme")
    b = await store.save_stream(chunks([b"same bytes"]), tenant="globex")
    assert a.id != b.id and a.path != b.path and a.created and b.created
    assert store.owned_by(a.id, "acme") and not store.owned_by(a.id, "globex")
    other_key = VideoStore(tmp_path / "o", max_bytes=1000, id_key=b"k2")
    sha = hashlib.sha256(b"same bytes").hexdigest()
    assert other_key.video_id("acme", sha) != a.id  # the id cannot be computed without it
    assert store.usage("acme") == len(b"same bytes") and store.usage("nobody") == 0


async def test_validate_runs_before_the_file_is_visible(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=1000)
    seen: list[bool] = []

    def refuse(tmp: Path) -> None:
        seen.append(tmp.exists() and not any(store.root.glob("*/" + "?" * 64)))
        raise EmptyFile("refused")

    with pytest.raises(EmptyFile):
        await store.save_stream(chunks([b"not a video"]), validate=refuse)
    assert seen == [True] and files_in(store) == []  # never placed, temp removed


async def test_quota_enforced_while_streaming(tmp_path: Path) -> None:
    store = VideoStore(tmp_path, max_bytes=1000)
    with pytest.raises(StorageQuotaExceeded):
        await store.save_stream(chunks([b"x" * 40, b"x" * 40]), quota_left=50)
    assert files_in(store) == []


async def test_a_full_disk_is_507_and_leaves_nothing(tmp_path: Path,
                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    import errno

    from service.video import store as store_module
    from service.video.errors import StorageFull

    real_open = Path.open

    class FullFile:
        def __init__(self, f: Any) -> None:
            self.f = f

        def write(self, data: bytes) -> int:
            raise OSError(errno.ENOSPC, "No space left on device")

        def __getattr__(self, name: str) -> Any:
            return getattr(self.f, name)

    def full_open(self: Path, *args: Any, **kw: Any) -> Any:
        f = real_open(self, *args, **kw)
        return FullFile(f) if self.name.startswith("upload-") else f

    monkeypatch.setattr(store_module.Path, "open", full_open)
    store = VideoStore(tmp_path, max_bytes=10_000)
    with pytest.raises(StorageFull) as err:
        await store.save_stream(chunks([b"x" * 100]))
    assert err.value.status == 507
    assert files_in(store) == []
