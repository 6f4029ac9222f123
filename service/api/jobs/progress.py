"""A running job's progress: written to the queue as it happens, streamed as SSE.

Owns `ProgressWriter` (the handler's side: a sync callback that never blocks the
search; the latest value is written by one background task, so writes never pile up
or land out of order) and `job_events` (the reader's side: `GET /v1/jobs/{id}/events`).

Invariants:
- The writer keeps only the LATEST progress; each write replaces the one before.
  Leaving the context stops the task by a flag (NOT by cancelling it alone: a cancel
  that lands as a redis-py call finishes can be swallowed on Python 3.11, see
  `service.state.jobs`, and awaiting such a task would hang the job), waits for it
  at most `STOP_S`, then writes the last value; a failed write (e.g. Redis down)
  costs only that progress update, never the job.
- `job_events` reads the job record (so it works across gateways, memory or Redis):
  it sends a `status` event whenever status or progress changed, a comment line every
  `keepalive_s` so proxies keep the stream open, and a final `done` event with the
  finished job, then ends. Each event's data is the job's JSON (the `GET` body).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from types import TracebackType
from typing import Any, Protocol

from service.inference.search.types import SearchProgress

STOP_S = 5.0  # how long leaving the writer waits for its last write


class _Progressable(Protocol):
    async def set_progress(self, job_id: str, progress: dict[str, Any]) -> bool: ...


class ProgressWriter:
    """`writer(progress)` from the search; the queue gets the latest value."""

    def __init__(self, queue: _Progressable, job_id: str) -> None:
        self.queue, self.job_id = queue, job_id
        self._latest: dict[str, Any] | None = None
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._closing = False

    def __call__(self, progress: SearchProgress) -> None:
        self._latest = {"stage": progress.stage, "chunks_scanned": progress.chunks_scanned,
                        "chunks_total": progress.chunks_total}
        self._wake.set()

    async def __aenter__(self) -> ProgressWriter:
        self._task = asyncio.create_task(self._loop())
        return self

    async def __aexit__(self, exc_type: type[BaseException] | None,
                        exc: BaseException | None, tb: TracebackType | None) -> None:
        self._closing = True
        self._wake.set()
        if self._task is not None:
            done, _ = await asyncio.wait({self._task}, timeout=STOP_S)
            if not done:
                self._task.cancel()  # best effort; never awaited (it may not end)
        if exc is None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_S):  # a stuck store must not hold the job
                    await self._flush()

    async def _loop(self) -> None:
        while not self._closing:
            await self._wake.wait()
            await self._flush()

    async def _flush(self) -> None:
        self._wake.clear()
        latest, self._latest = self._latest, None
        if latest is not None:
            with contextlib.suppress(Exception):  # progress is best effort
                await self.queue.set_progress(self.job_id, latest)


JobReader = Callable[[], Awaitable[dict[str, Any]]]


async def job_events(read: JobReader, *, poll_s: float = 0.25,
                     keepalive_s: float = 15.0) -> AsyncIterator[bytes]:
    """Server-sent events of one job until it finishes (`read` returns its JSON)."""
    last: tuple[Any, ...] | None = None
    quiet_since = time.monotonic()
    while True:
        job = await read()
        seen = (job.get("status"), json.dumps(job.get("progress"), sort_keys=True))
        if job.get("status") in ("done", "failed", "cancelled"):
            yield _event("done", job)
            return
        if seen != last:
            last, quiet_since = seen, time.monotonic()
            yield _event("status", job)
        elif time.monotonic() - quiet_since >= keepalive_s:
            quiet_since = time.monotonic()
            yield b": keepalive\n\n"
        await asyncio.sleep(poll_s)


def _event(name: str, data: dict[str, Any]) -> bytes:
    return f"event: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n".encode()
