"""Jobs under pressure: cancelling a RUNNING job, the job deadline, poison jobs.

The gateway runs in-process on the real vLLM HTTP backend, against the CPU stand-in
(`tests/support/vllm_standin.py`, in a thread, real HTTP), which records requests the
client abandoned (`disconnects`) and answers it completed (`completed`). Jobs live in
a real Redis (and, for the deadline, also in the in-process queue).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AsyncExitStack, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest
import redis

from service.app import create_app
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import (
    TRACE,
    Gateway,
    settings_for,
    upload,
    wait_job,
    wait_status,
)
from tests.support.vllm_standin import StandinState, start_standin

SLOW_S = 30.0  # the stand-in's delay: far longer than any test waits

# a hung job test fails in a minute with its stacks, not at the suite's 300 s default
pytestmark = pytest.mark.timeout(90)


@asynccontextmanager
async def vllm_gateway(tmp_path: Path, vllm_url: str, **overrides: Any
                       ) -> AsyncIterator[httpx.AsyncClient]:
    """The app built from settings alone (real VLLMHTTPBackend), lifespan running."""
    app = create_app(settings_for(tmp_path, vllm_url=vllm_url, vllm_model="scripted-double",
                                  **overrides))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
            yield client


async def until(predicate: Callable[[], bool], timeout: float = 10.0) -> bool:
    """Whether `predicate` held within `timeout` wall-clock seconds (callers assert)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        await asyncio.sleep(0.05)
    return predicate()


async def submit_and_wait_running(c: httpx.AsyncClient, video_id: str) -> str:
    r = await c.post("/v1/reason", json={"video_id": video_id, "question": "q",
                                         "voting": "majority", "n": 2, "async": True})
    assert r.status_code == 202, r.text
    job_id: str = r.json()["job_id"]
    await wait_status(c, job_id, ("running",))
    return job_id


def pending_entries(url: str) -> int:
    info = redis.Redis.from_url(url).xpending("o3:jobs", "o3-gateways")
    return int(info["pending"])


# which gateway receives the cancel -> what carries it to the worker
CANCEL_PATHS = [
    "same",   # the worker's own process: the running task is cancelled at once
    "other",  # another gateway: only a status write in Redis; the heartbeat notices it
]


@pytest.mark.parametrize("where", CANCEL_PATHS)
async def test_cancel_running_redis_job_aborts_backend_request(
        tmp_path: Path, video_path: Path, redis_db_url: str, where: str) -> None:
    state = StandinState()
    with start_standin(ScriptedBackend([TRACE], delay=SLOW_S), state=state) as vllm_url:
        async with AsyncExitStack() as stack:
            worker = await stack.enter_async_context(vllm_gateway(
                tmp_path, vllm_url, redis_url=redis_db_url, job_claim_idle_s=0.6))
            other = await stack.enter_async_context(vllm_gateway(
                tmp_path, vllm_url, redis_url=redis_db_url, job_workers=0))
            video = await upload(worker, video_path)
            job_id = await submit_and_wait_running(worker, video["id"])
            assert await until(lambda: len(state.requests) == 1)  # backend call in flight
            canceller = worker if where == "same" else other
            cancelled = (await canceller.post(f"/v1/jobs/{job_id}/cancel")).json()
            # heartbeat period is claim_idle/3 = 0.2 s: the abort lands in well under a
            # second; the 10 s bound is headroom for a starved CI machine, not a target
            aborted = await until(lambda: state.disconnects == 1, timeout=10.0)
            await until(lambda: pending_entries(redis_db_url) == 0, timeout=10.0)
            final = (await worker.get(f"/v1/jobs/{job_id}")).json()
    assert cancelled["status"] == "cancelled"
    assert aborted and state.completed == 0  # the vLLM request was abandoned, not answered
    assert final["status"] == "cancelled" and final["result"] is None
    assert pending_entries(redis_db_url) == 0  # acked: nobody will reclaim and rerun it


# where jobs live -> the deadline must hold for both queues
QUEUES = [
    "redis",   # Redis Streams queue
    "memory",  # in-process queue (no Redis configured)
]


@pytest.mark.parametrize("queue", QUEUES)
async def test_job_past_its_deadline_fails_with_timeout(
        tmp_path: Path, video_path: Path, redis_url: str, queue: str) -> None:
    state = StandinState()
    # 2 s, not less: under CPU load a shorter deadline can expire before the backend
    # request is even sent, and then there is no request whose abort could be checked
    extra: dict[str, Any] = {"job_timeout_s": 2.0}
    if queue == "redis":
        redis.Redis.from_url(redis_url).flushdb()
        extra["redis_url"] = redis_url
    with start_standin(ScriptedBackend([TRACE], delay=SLOW_S), state=state) as vllm_url:
        async with vllm_gateway(tmp_path, vllm_url, **extra) as c:
            video = await upload(c, video_path)
            r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "q",
                                                 "voting": "majority", "async": True})
            job = await wait_job(c, r.json()["job_id"], timeout=20.0)
            aborted = await until(lambda: state.disconnects == 1, timeout=10.0)
            metrics = (await c.get("/metrics")).text
    assert job["status"] == "failed" and job["result"] is None
    assert job["error"]["code"] == "job_timeout" and job["error"]["type"] == "timeout_error"
    assert "O3_JOB_TIMEOUT_S" in job["error"]["message"]
    assert aborted and state.completed == 0  # the backend request was cancelled with it
    assert 'o3_jobs_total{status="failed"} 1.0' in metrics


async def test_job_within_its_deadline_is_done(tmp_path: Path, video_path: Path) -> None:
    # guards against a deadline that fires early (or counts queue time as running time)
    state = StandinState()
    with start_standin(ScriptedBackend([TRACE], delay=0.3), state=state) as vllm_url:
        async with vllm_gateway(tmp_path, vllm_url, job_timeout_s=5.0) as c:
            video = await upload(c, video_path)
            r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "q",
                                                 "voting": "majority", "async": True})
            job = await wait_job(c, r.json()["job_id"], timeout=8.0)
    assert job["status"] == "done" and job["result"]["answer"] == "A"


# O3_JOB_MAX_ATTEMPTS -> outcome of a job that two workers already took and died on
POISON_CASES = [
    (2, "failed"),  # both attempts used up: failed as abandoned, not run a third time
    (3, "done"),    # one attempt left: the reclaiming gateway runs it to the end
]


@pytest.mark.parametrize(("max_attempts", "expected"), POISON_CASES)
async def test_job_whose_workers_keep_dying(gateway: Gateway, video_path: Path,
                                            redis_db_url: str, max_attempts: int,
                                            expected: str) -> None:
    async with gateway(redis_url=redis_db_url, job_workers=0) as c1:
        video = await upload(c1, video_path)
        r = await c1.post("/v1/reason", json={"video_id": video["id"], "question": "q",
                                              "async": True})
        job_id = r.json()["job_id"]
    # what two dead gateways leave behind: the entry delivered, reclaimed, never acked
    raw = redis.Redis.from_url(redis_db_url)
    raw.xgroup_create("o3:jobs", "o3-gateways", id="0", mkstream=True)
    raw.xreadgroup("o3-gateways", "dead-1", {"o3:jobs": ">"}, count=1)
    raw.xautoclaim("o3:jobs", "o3-gateways", "dead-2", min_idle_time=0, count=1)
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, redis_url=redis_db_url, job_claim_idle_s=0.2,
                       job_max_attempts=max_attempts) as c2:
        job = await wait_job(c2, job_id)
    assert job["status"] == expected, job
    if expected == "failed":
        assert job["error"]["code"] == "job_abandoned" and backend.calls == []
    else:
        assert job["result"]["answer"] == "A" and backend.calls
    assert pending_entries(redis_db_url) == 0  # settled either way: no further reclaim
