"""Cache key, in-memory cache, admission gate and in-memory job queue."""

from __future__ import annotations

import asyncio

import pytest

from service.errors import ApiError
from service.observability.metrics import Metrics
from service.security.limits import InferenceGate
from service.state.cache import MemoryCache, cache_key
from service.state.jobs import JobRecord, MemoryJobQueue, Outcome

BASE = {"video": "v", "question": "q", "n": 8, "sampling": {"temperature": 1.0}}


@pytest.mark.parametrize(("change", "same"), [
    ({}, True),                                           # identical parts -> same key
    ({"question": "q2"}, False),                          # question changes the result
    ({"n": 4}, False),                                    # n changes the result
    ({"sampling": {"temperature": 0.5}}, False),          # nested sampling params count
    ({"revision": "r2"}, False),                          # a new model revision invalidates
])
def test_cache_key(change: dict[str, object], same: bool) -> None:
    assert (cache_key(BASE) == cache_key({**BASE, **change})) is same


def test_cache_key_ignores_dict_order() -> None:
    assert cache_key({"a": 1, "b": 2}) == cache_key({"b": 2, "a": 1})


async def test_memory_cache_ttl_and_bound() -> None:
    cache = MemoryCache(ttl_s=60, max_items=2)
    for k in ("a", "b", "c"):
        await cache.set(k, k.encode())
    assert await cache.get("a") is None          # evicted: least recently used
    assert await cache.get("c") == b"c"
    off = MemoryCache(ttl_s=0)
    await off.set("x", b"1")
    assert await off.get("x") is None            # TTL 0 disables caching


async def test_gate_rejects_at_once_when_full() -> None:
    metrics = Metrics()
    gate = InferenceGate(max_concurrency=1, max_queue=1, metrics=metrics)
    release = asyncio.Event()

    async def hold() -> None:
        async with gate.slot():
            await release.wait()

    running = asyncio.create_task(hold())
    waiting = asyncio.create_task(hold())
    await asyncio.sleep(0.01)
    assert gate.waiting == 1
    with pytest.raises(ApiError) as err:
        async with gate.slot():
            pass
    assert err.value.status == 429 and err.value.headers["Retry-After"] == "1"
    release.set()
    await asyncio.gather(running, waiting)
    assert metrics.rejected.labels("queue_full")._value.get() == 1


async def test_memory_jobs_run_and_cancel() -> None:
    queue = MemoryJobQueue()
    gate = asyncio.Event()

    async def handler(rec: JobRecord) -> Outcome:
        if rec.request.get("block"):
            await gate.wait()
        return "done", {"echo": rec.request["x"]}

    queue.start(handler, workers=1)
    try:
        blocked = await queue.submit({"x": 1, "block": True})
        queued = await queue.submit({"x": 2})
        await asyncio.sleep(0.02)
        assert (await queue.get(blocked.id)).status == "running"  # type: ignore[union-attr]
        await queue.cancel(queued.id)        # cancelled while queued: never runs
        await queue.cancel(blocked.id)       # cancelled while running: task cancelled
        await asyncio.sleep(0.02)
        assert (await queue.get(blocked.id)).status == "cancelled"  # type: ignore[union-attr]
        assert (await queue.get(queued.id)).status == "cancelled"  # type: ignore[union-attr]
        done = await queue.submit({"x": 3})
        for _ in range(50):
            rec = await queue.get(done.id)
            if rec is not None and rec.status == "done":
                break
            await asyncio.sleep(0.01)
        assert rec is not None and rec.result == {"echo": 3}
    finally:
        await queue.close()
