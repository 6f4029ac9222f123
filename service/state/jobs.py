"""The job queue: `/v1/reason` requests answered later (202 + job id).

Statuses: queued -> running -> done | failed, or cancelled (from queued or running).
A job's record holds its request (JSON), result or error body, and timestamps.

Two implementations of `JobQueue` with the same worker logic (`_execute`):

- `MemoryJobQueue`: an asyncio queue and a dict; jobs die with the process.
- `RedisJobQueue`: records are Redis hashes `o3:job:<id>` (with a TTL); job ids go
  through the Stream `o3:jobs` read by the consumer group `o3-gateways`, so several
  gateway processes share the work and each job goes to one of them. A worker ACKs
  (and deletes) a job's entry only when it finished; while running it re-claims its
  own entry periodically (heartbeat), so an entry stays pending and idle only when its
  worker died. Any worker `XAUTOCLAIM`s entries idle for longer than
  `claim_idle_s` and runs them again: a job survives a gateway restart or crash. A
  job handed out more than `max_attempts` times (its worker died every time: a
  poison job, e.g. one that runs the process out of memory) fails with
  `job_abandoned` instead of taking down gateway after gateway.
  Cancellation is a status write; the worker running the job sees it on its next
  heartbeat and cancels the handler task.

Shutdown (`close`) never waits without bound. A cancel of a worker task can be lost:
on Python 3.11 `asyncio.wait_for` (used inside redis-py's socket writes) returns the
inner result instead of raising when the cancel lands in the loop iteration where the
inner call finished -- likely when a starved event loop runs both at once -- and a
worker would then loop on forever. So workers also stop on the `_closing` flag, and
`_stop_workers` cancels again until every worker ended (bounded, then logged).
Heartbeats stop on their own flag too: a leaked heartbeat would keep a dead job's
entry fresh so that nobody ever reclaims it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import socket
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import asdict, dataclass
from typing import Any, Literal, Protocol

from redis.exceptions import RedisError, ResponseError

from service.state.redis_client import Redis, StateUnavailable, unavailable_on_error

log = logging.getLogger("service.jobs")

JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]
FINAL: frozenset[str] = frozenset({"done", "failed", "cancelled"})
Outcome = tuple[Literal["done", "failed"], dict[str, Any]]
Handler = Callable[["JobRecord"], Awaitable[Outcome]]


@dataclass
class JobRecord:
    id: str
    status: str
    created_at: float
    updated_at: float
    request: dict[str, Any]
    result: dict[str, Any] | None = None
    error: dict[str, Any] | None = None
    progress: dict[str, Any] | None = None  # while running: what the handler reported

    def to_fields(self) -> dict[str | bytes, str]:
        return {k: json.dumps(v) for k, v in asdict(self).items()}

    @classmethod
    def from_fields(cls, fields: dict[bytes, bytes]) -> JobRecord:
        data: dict[str, Any] = {k.decode(): json.loads(v) for k, v in fields.items()}
        return cls(
            id=data["id"], status=data["status"], created_at=data["created_at"],
            updated_at=data["updated_at"], request=data.get("request") or {},
            result=data.get("result"), error=data.get("error"),
            progress=data.get("progress"),
        )


# Status writes are check-and-set in ONE Redis call (a script runs atomically): a cancel
# written by any gateway is never overwritten by a worker's "running" or final status
# (read-then-write from the worker raced with it), and a finished job is never
# marked cancelled afterwards.
_SAVE_UNLESS_CANCELLED = """
if redis.call('HGET', KEYS[1], 'status') == ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[2])
return 1
"""
# A final status and the ack (+ delete) of the job's stream entry are ONE call: whoever
# reads a final status never finds its entry still pending (a gateway stopped between
# the two would leave it for a pointless reclaim). The status is kept if a cancel is
# stored already; the entry is settled either way.
_FINISH_AND_ACK = """
local written = 0
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then
  redis.call('HSET', KEYS[1], unpack(ARGV, 5))
  redis.call('EXPIRE', KEYS[1], ARGV[2])
  written = 1
end
redis.call('XACK', KEYS[2], ARGV[3], ARGV[4])
redis.call('XDEL', KEYS[2], ARGV[4])
return written
"""
_CANCEL_UNLESS_FINAL = """
local current = redis.call('HGET', KEYS[1], 'status')
if not current then return 0 end
for i = 3, #ARGV do
  if current == ARGV[i] then return 0 end
end
redis.call('HSET', KEYS[1], 'status', ARGV[1], 'updated_at', ARGV[2])
return 1
"""

# Progress is written only while the job runs: never over a final or cancelled status.
_PROGRESS_IF_RUNNING = """
if redis.call('HGET', KEYS[1], 'status') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'progress', ARGV[2], 'updated_at', ARGV[3])
return 1
"""


def abandoned_error(starts: int) -> dict[str, Any]:
    """The error of a job whose worker died on every one of its `starts` attempts."""
    return {"message": f"the job was started {starts} times and its worker died each time "
            "(O3_JOB_MAX_ATTEMPTS); it is not retried again", "type": "server_error",
            "param": None, "code": "job_abandoned"}


def new_job(request: dict[str, Any]) -> JobRecord:
    now = time.time()
    return JobRecord("job_" + uuid.uuid4().hex, "queued", now, now, request)


class JobQueue(Protocol):
    async def submit(self, request: dict[str, Any]) -> JobRecord: ...

    async def get(self, job_id: str) -> JobRecord | None: ...

    async def cancel(self, job_id: str) -> JobRecord | None: ...

    def start(self, handler: Handler, workers: int) -> None: ...

    async def close(self) -> None: ...

    async def set_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        """Record a running job's progress (False, nothing written, unless running)."""
        ...


class _WorkerBase:
    """Worker plumbing shared by both queues: run a handler, honour cancellation."""

    def __init__(self) -> None:
        self._tasks: list[asyncio.Task[None]] = []
        self._running: dict[str, asyncio.Task[Outcome]] = {}
        self._user_cancelled: set[str] = set()
        self._handler: Handler | None = None
        self._closing = False

    async def _save(self, rec: JobRecord) -> bool:
        """Store the record; False (nothing written) when a cancel is stored already."""
        raise NotImplementedError

    async def _execute(self, rec: JobRecord) -> None:
        """Run one job to a final status (or leave it for reclaim on shutdown)."""
        assert self._handler is not None
        rec.status, rec.updated_at = "running", time.time()
        if not await self._save(rec):
            return  # cancelled between being handed out and starting: never run
        task = asyncio.ensure_future(self._handler(rec))
        self._running[rec.id] = task
        try:
            status: str
            status, payload = await task
        except asyncio.CancelledError:
            if rec.id not in self._user_cancelled:
                raise  # shutdown: leave the job pending for another worker
            status, payload = "cancelled", {}
        except Exception as exc:  # the handler maps expected errors itself
            log.exception("job %s crashed", rec.id)
            status, payload = "failed", {"message": str(exc), "code": "internal_error",
                                         "type": "server_error", "param": None}
        finally:
            self._running.pop(rec.id, None)
            self._user_cancelled.discard(rec.id)
        await self._finish(rec, status, payload)

    async def _finish(self, rec: JobRecord, status: str, payload: dict[str, Any]) -> None:
        rec.status, rec.updated_at = status, time.time()
        if status == "done":
            rec.result = payload
        elif status == "failed":
            rec.error = payload
        await self._save(rec)

    def _cancel_local(self, job_id: str) -> None:
        task = self._running.get(job_id)
        if task is not None and not task.done():
            self._user_cancelled.add(job_id)
            task.cancel()

    async def _stop_workers(self, limit_s: float = 10.0) -> None:
        """Cancel the workers, again and again (a cancel can be swallowed, see the
        module docstring), until they ended or `limit_s` passed (then log them)."""
        self._closing = True
        left = {t for t in self._tasks if not t.done()}
        deadline = time.monotonic() + limit_s
        while left and time.monotonic() < deadline:
            for t in left:
                t.cancel()
            _, left = await asyncio.wait(left, timeout=0.2)
        if left:
            log.error("job queue: %d worker(s) did not stop within %g s", len(left), limit_s)
        for t in self._tasks:
            if t.done() and not t.cancelled() and t.exception() is not None:
                log.error("job worker ended with an error", exc_info=t.exception())
        self._tasks.clear()


class MemoryJobQueue(_WorkerBase):
    def __init__(self) -> None:
        super().__init__()
        self._records: dict[str, JobRecord] = {}
        self._queue: asyncio.Queue[str] = asyncio.Queue()

    async def submit(self, request: dict[str, Any]) -> JobRecord:
        rec = new_job(request)
        self._records[rec.id] = rec
        self._queue.put_nowait(rec.id)
        return rec

    async def get(self, job_id: str) -> JobRecord | None:
        return self._records.get(job_id)

    async def cancel(self, job_id: str) -> JobRecord | None:
        rec = self._records.get(job_id)
        if rec is None or rec.status in FINAL:
            return rec
        if rec.status == "queued":
            rec.status, rec.updated_at = "cancelled", time.time()
        self._cancel_local(job_id)
        return rec

    async def _save(self, rec: JobRecord) -> bool:
        self._records[rec.id] = rec  # the same object the caller holds
        return True

    async def set_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        rec = self._records.get(job_id)
        if rec is None or rec.status != "running":
            return False
        rec.progress, rec.updated_at = progress, time.time()
        return True

    def start(self, handler: Handler, workers: int) -> None:
        self._handler = handler
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(workers)]

    async def _loop(self) -> None:
        while not self._closing:
            job_id = await self._queue.get()
            rec = self._records.get(job_id)
            if rec is not None and rec.status == "queued":
                await self._execute(rec)

    async def close(self) -> None:
        await self._stop_workers()


class RedisJobQueue(_WorkerBase):
    STREAM = "o3:jobs"
    GROUP = "o3-gateways"

    def __init__(self, client: Redis, *, ttl_s: int, claim_idle_s: float,
                 max_attempts: int = 3) -> None:
        super().__init__()
        self._r = client
        self._ttl = ttl_s
        self._idle_ms = max(1, int(claim_idle_s * 1000))
        self._max_attempts = max_attempts
        self._consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        self._entries: dict[str, bytes] = {}  # job id -> stream entry, while we run it

    @staticmethod
    def _key(job_id: str) -> str:
        return f"o3:job:{job_id}"

    async def submit(self, request: dict[str, Any]) -> JobRecord:
        rec = new_job(request)
        with unavailable_on_error("job not queued"):
            async with self._r.pipeline(transaction=True) as pipe:
                pipe.hset(self._key(rec.id), mapping=rec.to_fields())
                pipe.expire(self._key(rec.id), self._ttl)
                pipe.xadd(self.STREAM, {"job_id": rec.id})
                await pipe.execute()
        return rec

    async def get(self, job_id: str) -> JobRecord | None:
        if not job_id.startswith("job_") or len(job_id) > 64:
            return None
        with unavailable_on_error("job not read"):
            fields = await self._r.hgetall(self._key(job_id))
        return JobRecord.from_fields(fields) if fields else None

    async def cancel(self, job_id: str) -> JobRecord | None:
        if await self.get(job_id) is None:
            return None
        final = [json.dumps(status) for status in sorted(FINAL)]
        with unavailable_on_error("job not cancelled"):
            await self._r.eval(_CANCEL_UNLESS_FINAL, 1, self._key(job_id),  # type: ignore[no-untyped-call]
                               json.dumps("cancelled"), json.dumps(time.time()), *final)
        self._cancel_local(job_id)
        return await self.get(job_id)

    async def _save(self, rec: JobRecord) -> bool:
        fields = [x for kv in rec.to_fields().items() for x in kv]
        entry = self._entries.get(rec.id)
        if rec.status in FINAL and entry is not None:
            written = await self._r.eval(  # type: ignore[no-untyped-call]
                _FINISH_AND_ACK, 2, self._key(rec.id), self.STREAM, json.dumps("cancelled"),
                str(self._ttl), self.GROUP, entry, *fields)
        else:
            written = await self._r.eval(  # type: ignore[no-untyped-call]
                _SAVE_UNLESS_CANCELLED, 1, self._key(rec.id), json.dumps("cancelled"),
                str(self._ttl), *fields)
        return bool(written) or rec.status == "cancelled"

    def start(self, handler: Handler, workers: int) -> None:
        self._handler = handler
        self._tasks = [asyncio.create_task(self._loop()) for _ in range(workers)]

    async def set_progress(self, job_id: str, progress: dict[str, Any]) -> bool:
        written = await self._r.eval(  # type: ignore[no-untyped-call]
            _PROGRESS_IF_RUNNING, 1, self._key(job_id), json.dumps("running"),
            json.dumps(progress), json.dumps(time.time()))
        return bool(written)

    async def _ensure_group(self) -> None:
        try:
            await self._r.xgroup_create(self.STREAM, self.GROUP, id="0", mkstream=True)
        except ResponseError as exc:
            if "BUSYGROUP" not in str(exc):
                raise

    async def _loop(self) -> None:
        while not self._closing:
            try:
                await self._ensure_group()
                while not self._closing:
                    await self._step()
            except (RedisError, OSError, StateUnavailable) as exc:  # get() raises the last
                if self._closing:
                    return
                log.warning("job worker: redis error, retrying in 1 s: %s", exc)
                await asyncio.sleep(1.0)

    async def _next_entry(self) -> tuple[bytes, dict[bytes, bytes]] | None:
        claimed = await self._r.xautoclaim(self.STREAM, self.GROUP, self._consumer,
                                           min_idle_time=self._idle_ms, start_id="0-0", count=1)
        if claimed[1]:
            return claimed[1][0]  # type: ignore[no-any-return]
        read = await self._r.xreadgroup(self.GROUP, self._consumer, {self.STREAM: ">"},
                                        count=1, block=500)  # well under socket_timeout
        return read[0][1][0] if read and read[0][1] else None

    async def _step(self) -> None:
        entry = await self._next_entry()
        if entry is None:
            return
        msg_id, fields = entry
        rec = await self.get(fields.get(b"job_id", b"").decode())
        if rec is not None and rec.status not in FINAL:
            self._entries[rec.id] = msg_id  # its final save acks the entry too
            try:
                await self._settle(msg_id, rec)
            finally:
                self._entries.pop(rec.id, None)
        # a job final already (or cancelled before it started): settle its entry here
        await self._r.xack(self.STREAM, self.GROUP, msg_id)  # type: ignore[no-untyped-call]
        await self._r.xdel(self.STREAM, msg_id)

    async def _settle(self, msg_id: bytes, rec: JobRecord) -> None:
        """Run the job, or fail it as abandoned once its workers died too often."""
        attempts = await self._deliveries(msg_id)
        if attempts > self._max_attempts:
            log.error("job %s: started %d times, its worker died each time; giving up",
                      rec.id, attempts - 1)
            await self._finish(rec, "failed", abandoned_error(attempts - 1))
        else:
            await self._run_with_heartbeat(msg_id, rec)

    async def _run_with_heartbeat(self, msg_id: bytes, rec: JobRecord) -> None:
        stop = asyncio.Event()
        beat = asyncio.create_task(self._heartbeat(msg_id, rec.id, stop))
        try:
            await self._execute(rec)
        finally:
            stop.set()  # ends the heartbeat even if the cancel below is swallowed
            beat.cancel()

    async def _deliveries(self, msg_id: bytes) -> int:
        """How many times the entry was handed to a worker (1 = first run). Heartbeats
        re-claim with JUSTID, which does not count; a reclaim after a death does."""
        pending = await self._r.xpending_range(self.STREAM, self.GROUP, min=msg_id,
                                               max=msg_id, count=1)
        return int(pending[0]["times_delivered"]) if pending else 1

    async def _heartbeat(self, msg_id: bytes, job_id: str, stop: asyncio.Event) -> None:
        """Keep our pending entry fresh; notice a cancel written by any gateway."""
        while not stop.is_set():
            await asyncio.sleep(min(self._idle_ms / 3000, 2.0))
            if stop.is_set():
                return
            with contextlib.suppress(RedisError, OSError):
                await self._r.xclaim(  # type: ignore[no-untyped-call]
                    self.STREAM, self.GROUP, self._consumer, 0, [msg_id], justid=True)
                status = await self._r.hget(self._key(job_id), "status")
                if status is not None and json.loads(status) == "cancelled":
                    self._cancel_local(job_id)

    async def close(self) -> None:
        await self._stop_workers()
