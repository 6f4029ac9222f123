"""Uploads never block the event loop, and hold bounded memory, however slow the disk.

A "slow disk" is simulated by slowing `_Writer.flush` (the one place bytes are hashed
and written) with a blocking `time.sleep`: if that ran on the event loop, every other
request would stall for the whole sleep. The bounds below are generous (the sleep is
1 s per batch; a /health answer may take up to 0.5 s on a loaded machine) so they
separate "on the loop" from "off the loop", not fast from slow.
"""

from __future__ import annotations

import asyncio
import io
import os
import random
import threading
import time
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import httpx
import pytest

from service.video.store import BATCH_BYTES, VideoStore, _Writer
from tests.integration.gateway.conftest import Gateway

FlushFn = Callable[[_Writer, list[bytes]], None]


def slow_flush(original: FlushFn, seconds: float, threads: set[int]) -> FlushFn:
    def flush(self: _Writer, batch: list[bytes]) -> None:
        threads.add(threading.get_ident())
        time.sleep(seconds)  # blocking, like a slow disk
        original(self, batch)

    return flush


async def poll_health(c: httpx.AsyncClient, until: asyncio.Task[httpx.Response]
                      ) -> list[float]:
    latencies: list[float] = []
    while not until.done():
        t0 = time.perf_counter()
        assert (await c.get("/health")).status_code == 200
        latencies.append(time.perf_counter() - t0)
        await asyncio.sleep(0.01)
    return latencies


async def test_health_answered_while_big_upload_hits_a_slow_disk(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    threads: set[int] = set()
    monkeypatch.setattr(_Writer, "flush", slow_flush(_Writer.flush, 1.0, threads))
    data = random.Random(0).randbytes(3 * BATCH_BYTES)  # 3 batches -> >= 3 s of "disk" time
    async with gateway() as c:
        # a file object makes httpx stream the body in 64 KiB chunks
        upload = asyncio.create_task(c.post("/v1/videos", files={
            "file": ("big.bin", io.BytesIO(data), "video/mp4")}))
        latencies = await poll_health(c, upload)
        response = await upload
    # not a video: hashed, written, probed, refused, removed -- the whole path ran
    assert response.status_code == 415, response.text
    assert threading.get_ident() not in threads  # every flush ran in a worker thread
    # on the loop, some /health call would wait out a whole 1 s flush, and only a
    # handful would be answered in the ~3 s of the upload
    assert len(latencies) >= 20, latencies
    assert max(latencies) < 0.5, max(latencies)


async def test_stream_held_in_memory_is_bounded(tmp_path: Path,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    chunk = 64 * 1024
    produced = flushed = 0
    ahead: list[int] = []  # bytes received but not yet written, at each flush
    original = _Writer.flush

    def flush(self: _Writer, batch: list[bytes]) -> None:
        nonlocal flushed
        ahead.append(produced - flushed)
        time.sleep(0.05)  # a disk slower than the producer: back-pressure must kick in
        original(self, batch)
        flushed += sum(len(b) for b in batch)

    async def fast_producer() -> AsyncIterator[bytes]:
        nonlocal produced
        block = os.urandom(chunk)
        for _ in range(8 * BATCH_BYTES // chunk):
            produced += chunk
            yield block

    monkeypatch.setattr(_Writer, "flush", flush)
    saved = await VideoStore(tmp_path, max_bytes=1 << 30).save_stream(fast_producer())
    assert saved.size == 8 * BATCH_BYTES and saved.path.stat().st_size == saved.size
    # one batch being written + one being gathered (+ the chunk just received)
    assert max(ahead) <= 2 * BATCH_BYTES + chunk, max(ahead)


async def test_cancelled_upload_leaves_no_temp_file(tmp_path: Path,
                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    # the request is cancelled (client gone) while a batch is being written in a thread
    monkeypatch.setattr(_Writer, "flush", slow_flush(_Writer.flush, 0.3, set()))
    store = VideoStore(tmp_path, max_bytes=1 << 30)

    async def endless() -> AsyncIterator[bytes]:
        while True:
            yield b"x" * 65536
            await asyncio.sleep(0)

    task = asyncio.create_task(store.save_stream(endless()))
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await asyncio.sleep(0.5)  # let the abandoned flush thread finish
    assert [p for p in tmp_path.rglob("*") if p.is_file()] == []
