"""The SSE generator of GET /v1/jobs/{id}/events and the progress writer, with fakes."""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

from service.api.jobs.progress import ProgressWriter, job_events
from service.inference.search.types import SearchProgress


def collect(states: list[dict[str, Any]], **kw: float) -> list[tuple[str, Any]]:
    it = iter(states)
    last: dict[str, Any] = {}

    async def read() -> dict[str, Any]:
        nonlocal last
        last = next(it, last)
        return last

    async def run() -> list[bytes]:
        return [chunk async for chunk in job_events(read, **kw)]

    out = []
    for chunk in asyncio.run(run()):
        text = chunk.decode()
        if text.startswith(":"):
            out.append(("comment", text.strip()))
            continue
        name, data = text.strip().split("\n")
        out.append((name[len("event: "):], json.loads(data[len("data: "):])))
    return out


def job(status: str, scanned: int | None = None) -> dict[str, Any]:
    progress = None if scanned is None else {"stage": "scan", "chunks_scanned": scanned,
                                             "chunks_total": 3}
    return {"id": "job_1", "status": status, "progress": progress}


def test_one_event_per_change_then_done():
    states = [job("queued"), job("queued"), job("running", 0), job("running", 0),
              job("running", 2), job("done")]
    got = collect(states, poll_s=0.0)
    assert [n for n, _ in got] == ["status", "status", "status", "done"]
    assert [d["progress"] and d["progress"]["chunks_scanned"] for _, d in got[:3]] == [None, 0, 2]


def test_a_finished_job_gives_only_done():
    for final in ("done", "failed", "cancelled"):
        got = collect([job(final)], poll_s=0.0)
        assert got == [("done", job(final))]


def test_keepalive_comments_while_nothing_changes():
    states = [job("running", 1)] * 6 + [job("done")]
    got = collect(states, poll_s=0.01, keepalive_s=0.0)
    assert ("comment", ": keepalive") in got and got[-1][0] == "done"


class FakeQueue:
    def __init__(self, fail: bool = False) -> None:
        self.writes: list[dict[str, Any]] = []
        self.fail = fail

    async def set_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        await asyncio.sleep(0)
        if self.fail:
            raise ConnectionError("redis down")
        self.writes.append(progress)
        return True


def test_writer_keeps_the_latest_and_flushes_it_at_the_end():
    q = FakeQueue()

    async def run() -> None:
        async with ProgressWriter(q, "job_1") as w:
            for i in range(50):          # faster than the writer: values are replaced
                w(SearchProgress("scan", i, 50))
            w(SearchProgress("done", 50, 50))

    asyncio.run(run())
    assert q.writes[-1] == {"stage": "done", "chunks_scanned": 50, "chunks_total": 50}
    assert len(q.writes) < 51
    scanned = [w["chunks_scanned"] for w in q.writes]
    assert scanned == sorted(scanned)    # never out of order


def test_a_failing_progress_write_never_fails_the_job():
    async def run() -> str:
        async with ProgressWriter(FakeQueue(fail=True), "job_1") as w:
            w(SearchProgress("scan", 1, 2))
            await asyncio.sleep(0.01)
        return "finished"

    assert asyncio.run(run()) == "finished"


class SwallowingQueue:
    """A store whose write swallows a cancel (redis-py on Python 3.11 can, see
    service.state.jobs): a writer stopped by cancel alone would never end."""

    def __init__(self) -> None:
        self.writes = 0

    async def set_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        with contextlib.suppress(asyncio.CancelledError):  # as the real client sometimes does
            await asyncio.sleep(0.05)
        self.writes += 1
        return True


def test_leaving_the_writer_never_hangs_on_a_swallowed_cancel():
    async def run() -> tuple[int, float]:
        q = SwallowingQueue()
        start = time.monotonic()
        async with ProgressWriter(q, "job_1") as w:
            w(SearchProgress("scan", 1, 2))
            await asyncio.sleep(0.01)            # the writer task is inside a write
            w(SearchProgress("done", 2, 2))
        return q.writes, time.monotonic() - start

    writes, took = asyncio.run(asyncio.wait_for(run(), 30))
    assert took < 1.0 and writes >= 2            # ended at once, the last value written
