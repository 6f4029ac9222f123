"""Admission control: a bounded number of running inferences and a bounded wait queue.

`InferenceGate.slot()` is an async context manager. When `max_concurrency` are running
and `max_queue` are already waiting, it raises 429 AT ONCE (with Retry-After) instead
of queueing without bound. `slot(wait=True)` (job workers: their number, O3_JOB_WORKERS,
already bounds them, and a job has no client to tell "retry later") always waits.
Queue depth and in-flight are mirrored in metrics gauges. Single event loop per process:
the counters need no lock.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.errors import ApiError
from service.observability.metrics import Metrics


class InferenceGate:
    def __init__(self, max_concurrency: int, max_queue: int, metrics: Metrics,
                 retry_after_s: int = 1) -> None:
        self._sem = asyncio.Semaphore(max_concurrency)
        self._max_queue = max_queue
        self._waiting = 0
        self._metrics = metrics
        self._retry_after = retry_after_s

    @property
    def waiting(self) -> int:
        return self._waiting

    def _reject(self) -> ApiError:
        self._metrics.rejected.labels("queue_full").inc()
        return ApiError(429, "too_many_requests",
                        "the server is at its concurrency and queue limits; retry later",
                        headers={"Retry-After": str(self._retry_after)})

    @asynccontextmanager
    async def slot(self, *, wait: bool = False) -> AsyncIterator[None]:
        if not wait and self._sem.locked() and self._waiting >= self._max_queue:
            raise self._reject()
        self._waiting += 1
        self._metrics.queue_depth.inc()
        try:
            await self._sem.acquire()
        finally:
            self._waiting -= 1
            self._metrics.queue_depth.dec()
        self._metrics.in_flight.inc()
        try:
            yield
        finally:
            self._metrics.in_flight.dec()
            self._sem.release()
