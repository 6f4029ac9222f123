"""Status writes of Redis jobs are check-and-set in one Redis call (real redis-server).

The race this guards (seen as a flaky e2e `test_cancel_job`): a worker read the job
(`queued`), a cancel wrote `cancelled`, then the worker's read-then-write of `running`
overwrote the cancel and the job ran to `done`. The interleavings are forced here,
step by step, instead of hoping for them.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

import pytest
import redis

from service.state.jobs import JobRecord, Outcome, RedisJobQueue
from service.state.redis_client import Redis, connect

Ran = list[str]


@pytest.fixture
async def queue(redis_db_url: str) -> AsyncIterator[tuple[RedisJobQueue, Ran]]:
    client: Redis = connect(redis_db_url)
    q = RedisJobQueue(client, ttl_s=60, claim_idle_s=5.0)
    ran: Ran = []

    async def handler(rec: JobRecord) -> Outcome:
        ran.append(rec.id)
        return "done", {"answer": "A"}

    q._handler = handler  # no worker loop: the test drives `_execute` itself
    yield q, ran
    await client.aclose()  # type: ignore[attr-defined]


async def test_cancel_between_hand_out_and_start_wins(queue: tuple[RedisJobQueue, Ran]
                                                      ) -> None:
    q, ran = queue
    rec = await q.submit({"fields": {}})
    handed_out = await q.get(rec.id)  # what a worker read: still "queued"
    assert handed_out is not None and handed_out.status == "queued"
    cancelled = await q.cancel(rec.id)
    assert cancelled is not None and cancelled.status == "cancelled"
    await q._execute(handed_out)  # the worker goes on with its stale copy
    stored = await q.get(rec.id)
    assert ran == [] and stored is not None and stored.status == "cancelled"


async def test_cancel_after_done_keeps_the_result(queue: tuple[RedisJobQueue, Ran]) -> None:
    q, ran = queue
    rec = await q.submit({"fields": {}})
    stale = await q.get(rec.id)  # a cancelling gateway read "queued" ...
    await q._execute(rec)  # ... the job then finished ...
    assert stale is not None and stale.status == "queued" and ran == [rec.id]
    again = await q.cancel(rec.id)  # ... and the cancel arrives late: a no-op
    assert again is not None and again.status == "done" and again.result == {"answer": "A"}


# (status a job is in, what a cancel leaves) -- cancel is idempotent on final states
CANCEL_CASES: list[tuple[str, str]] = [
    ("queued", "cancelled"),  # not started: cancelled
    ("running", "cancelled"),  # running (elsewhere): cancelled, its worker sees it
    ("failed", "failed"),  # final: unchanged
    ("cancelled", "cancelled"),  # twice: unchanged
]


@pytest.mark.parametrize(("status", "after"), CANCEL_CASES)
async def test_cancel_by_status(queue: tuple[RedisJobQueue, Ran], status: str,
                                after: str) -> None:
    q, _ = queue
    rec = await q.submit({"fields": {}})
    rec.status = status
    assert await q._save(rec)
    out: Any = await q.cancel(rec.id)
    assert out.status == after
    assert await q.cancel("job_" + "0" * 32) is None  # unknown job: None (404 upstream)


# how a job reaches its final status -> its stream entry must be settled in that write
FINAL_PATHS = [
    "ran",        # the handler answered: done
    "abandoned",  # its workers died too often: failed without running
]


@pytest.mark.parametrize("path", FINAL_PATHS)
async def test_final_status_and_ack_are_one_write(redis_db_url: str, path: str) -> None:
    # bug: the status was written, then the entry acked in a second call; a gateway
    # stopped in between left a final job's entry pending (seen as a flaky
    # `test_job_whose_workers_keep_dying[2-failed]`: 1 pending entry after "failed")
    client: Redis = connect(redis_db_url)
    q = RedisJobQueue(client, ttl_s=60, claim_idle_s=0.001, max_attempts=1)
    q._handler = lambda rec: asyncio.sleep(0, ("done", {"answer": "A"}))  # type: ignore[assignment,return-value]
    raw = redis.Redis.from_url(redis_db_url)
    await q._ensure_group()
    rec = await q.submit({"fields": {}})
    if path == "abandoned":  # a dead worker took it once already
        raw.xreadgroup(q.GROUP, "dead-1", {q.STREAM: ">"}, count=1)
        await asyncio.sleep(0.01)  # idle past claim_idle_s: reclaimable
    seen: list[tuple[str, int]] = []
    finish = q._finish

    async def finish_then_look(r: JobRecord, status: str, payload: dict[str, Any]) -> None:
        await finish(r, status, payload)
        pending = int(raw.xpending(q.STREAM, q.GROUP)["pending"])
        seen.append((json.loads(raw.hget(f"o3:job:{rec.id}", "status") or b"null"), pending))

    q._finish = finish_then_look  # type: ignore[method-assign]
    try:
        await q._step()
    finally:
        await client.aclose()  # type: ignore[attr-defined]
    expected = "done" if path == "ran" else "failed"
    assert seen == [(expected, 0)]  # final and settled at the same moment
