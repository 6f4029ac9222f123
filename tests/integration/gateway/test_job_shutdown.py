"""Job queue shutdown is bounded even when a worker's cancel is swallowed (real Redis).

The flake this guards: under CPU load, `test_job_whose_workers_keep_dying[3-done]` and
`test_job_of_dead_worker_is_reclaimed` hung until pytest-timeout (300 s). The gateway's
lifespan awaited its job worker after cancelling it, but the cancel had been swallowed
inside redis-py (Python 3.11 `asyncio.wait_for` returns the inner result when the
cancel and the inner completion land in one loop iteration, as a starved loop makes
likely), so the worker caught the next Redis timeout, slept and looped for ever.
Here the swallowing is forced, step by step, instead of hoping for it.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from service.state.jobs import JobRecord, MemoryJobQueue, Outcome, RedisJobQueue
from service.state.redis_client import Redis, connect

pytestmark = pytest.mark.timeout(60)

STOP_LIMIT_S = 5.0  # far above the ~0.2 s a second cancel takes; far below a stall


async def swallow_one_cancel(seconds: float) -> bool:
    """Sleep; the first cancel is swallowed like 3.11 `wait_for` does. True if it was."""
    try:
        await asyncio.sleep(seconds)
    except asyncio.CancelledError:
        return True
    return False


@pytest.fixture
async def client(redis_db_url: str) -> AsyncIterator[Redis]:
    c: Redis = connect(redis_db_url)
    yield c
    await c.aclose()  # type: ignore[attr-defined]


def closes_in_time(close_s: float) -> None:
    assert close_s < STOP_LIMIT_S, f"close() took {close_s:.1f} s: a worker ignored it"


async def timed_close(q: RedisJobQueue | MemoryJobQueue) -> float:
    start = time.monotonic()
    await asyncio.wait_for(q.close(), timeout=3 * STOP_LIMIT_S)  # the test's own bound
    return time.monotonic() - start


async def wait_for_flag(flag: asyncio.Event, what: str, limit: float = 10.0) -> None:
    try:
        await asyncio.wait_for(flag.wait(), timeout=limit)
    except TimeoutError:
        raise AssertionError(f"{what} did not happen within {limit} s") from None


async def test_close_ends_a_worker_that_swallowed_its_cancel_in_a_redis_read(
        client: Redis) -> None:
    q = RedisJobQueue(client, ttl_s=60, claim_idle_s=5.0)
    reading, swallowed = asyncio.Event(), []

    async def next_entry() -> None:
        reading.set()
        swallowed.append(await swallow_one_cancel(30.0))  # a stream read that ate it

    async def handler(rec: JobRecord) -> Outcome:
        return "done", {}

    q._next_entry = next_entry  # type: ignore[assignment,method-assign]
    q.start(handler, workers=1)
    await wait_for_flag(reading, "the worker's first stream read")
    closes_in_time(await timed_close(q))
    assert swallowed and swallowed[0] is True  # the first cancel really was eaten


# which queue -> a handler that swallows the shutdown cancel must still let close() end
QUEUES = [
    "redis",   # the Redis Streams worker loop
    "memory",  # the in-process worker loop
]


@pytest.mark.parametrize("queue", QUEUES)
async def test_close_ends_a_worker_whose_handler_swallowed_the_cancel(
        client: Redis, queue: str) -> None:
    q = (RedisJobQueue(client, ttl_s=60, claim_idle_s=5.0) if queue == "redis"
         else MemoryJobQueue())
    running, outcomes = asyncio.Event(), []

    async def handler(rec: JobRecord) -> Outcome:
        running.set()
        outcomes.append(await swallow_one_cancel(30.0))
        return "done", {"answer": "A"}

    q.start(handler, workers=1)
    rec = await q.submit({"fields": {}})
    await wait_for_flag(running, "the job's start")
    closes_in_time(await timed_close(q))
    stored = await q.get(rec.id)
    assert outcomes == [True] and stored is not None  # swallowed once, ran once


async def test_heartbeat_ends_on_its_stop_flag_without_any_cancel(client: Redis) -> None:
    # a swallowed cancel is no cancel at all: the stop flag alone must end the heartbeat,
    # or a dead job's entry is kept fresh and never reclaimed
    q = RedisJobQueue(client, ttl_s=60, claim_idle_s=0.3)  # a beat every 0.1 s
    rec = await q.submit({"fields": {}})
    stop = asyncio.Event()
    beat = asyncio.create_task(q._heartbeat(b"0-1", rec.id, stop))
    await asyncio.sleep(0.35)  # beats a few times
    assert not beat.done(), beat
    stop.set()
    done, _ = await asyncio.wait({beat}, timeout=2.0)
    assert done, "the heartbeat kept running after its job ended"
