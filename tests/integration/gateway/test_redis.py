"""Redis-backed cache and jobs against a real redis-server: hits, outages, restarts."""

from __future__ import annotations

from pathlib import Path

import pytest
import redis

from service.inference.doubles import ScriptedBackend
from tests.conftest import start_redis
from tests.integration.gateway.conftest import TRACE, Gateway, upload, wait_job, wait_status

# a hung job test fails in a minute with its stacks, not at the suite's 300 s default
pytestmark = pytest.mark.timeout(90)


async def test_redis_cache_hit_skips_inference(gateway: Gateway, video_path: Path,
                                               redis_db_url: str) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, redis_url=redis_db_url) as c:
        video = await upload(c, video_path)
        ask = {"video_id": video["id"], "question": "Which?", "n": 2}
        first = await c.post("/v1/reason", json=ask)
        calls = len(backend.calls)
        second = await c.post("/v1/reason", json=ask)
        other = await c.post("/v1/reason", json={**ask, "n": 3})  # n changes the key
    assert first.json()["cached"] is False and second.json()["cached"] is True
    assert len(backend.calls) > calls and other.json()["cached"] is False
    keys = redis.Redis.from_url(redis_db_url).keys("o3:result:*")
    assert len(keys) == 2


async def test_redis_stopped_mid_run_still_answers(gateway: Gateway, video_path: Path,
                                                   tmp_path: Path) -> None:
    proc, url = start_redis(tmp_path)
    try:
        async with gateway(redis_url=url) as c:
            video = await upload(c, video_path)
            ok = await c.post("/v1/reason", json={"video_id": video["id"], "question": "one"})
            proc.kill()
            proc.wait()
            after = await c.post("/v1/reason", json={"video_id": video["id"], "question": "two"})
            metrics = (await c.get("/metrics")).text
    finally:
        if proc.poll() is None:
            proc.kill()
    assert ok.status_code == 200 and after.status_code == 200, after.text
    assert after.json()["answer"] == "A" and after.json()["cached"] is False
    assert 'o3_cache_errors_total{op="get"} 1.0' in metrics
    # after the failed lookup the cache is skipped for a while: the store is not tried
    assert 'o3_cache_errors_total{op="skip"} 1.0' in metrics


async def test_async_job_in_redis(gateway: Gateway, video_path: Path, redis_db_url: str) -> None:
    async with gateway(redis_url=redis_db_url) as c:
        video = await upload(c, video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "q",
                                             "async": True})
        assert r.status_code == 202
        job = await wait_job(c, r.json()["job_id"])
    assert job["status"] == "done" and job["result"]["answer"] == "A"
    raw = redis.Redis.from_url(redis_db_url).hgetall(f"o3:job:{job['id']}")
    assert raw[b"status"] == b'"done"'


async def test_job_queued_survives_gateway_restart(gateway: Gateway, video_path: Path,
                                                   redis_db_url: str) -> None:
    # gateway 1 accepts the job but has no worker (it "goes down" before running it)
    async with gateway(redis_url=redis_db_url, job_workers=0) as c1:
        video = await upload(c1, video_path)
        r = await c1.post("/v1/reason", json={"video_id": video["id"], "question": "q",
                                              "async": True})
        job_id = r.json()["job_id"]
        assert (await c1.get(f"/v1/jobs/{job_id}")).json()["status"] == "queued"
    # gateway 2 starts on the same Redis and data dir and finishes it
    async with gateway(redis_url=redis_db_url) as c2:
        job = await wait_job(c2, job_id)
    assert job["status"] == "done"


async def test_job_of_dead_worker_is_reclaimed(gateway: Gateway, video_path: Path,
                                               redis_db_url: str) -> None:
    slow = ScriptedBackend([TRACE], delay=30.0)
    async with gateway(slow, redis_url=redis_db_url, job_claim_idle_s=0.5) as c1:
        video = await upload(c1, video_path)
        r = await c1.post("/v1/reason", json={"video_id": video["id"], "question": "q",
                                              "async": True})
        job_id = r.json()["job_id"]
        await wait_status(c1, job_id, ("running",))  # taken by gateway 1's worker
    # gateway 1 died mid-job without acking; gateway 2 reclaims it once it is idle
    async with gateway(ScriptedBackend([TRACE]), redis_url=redis_db_url,
                       job_claim_idle_s=0.5) as c2:
        job = await wait_job(c2, job_id)
    assert job["status"] == "done" and job["result"]["answer"] == "A"


async def test_cancel_queued_job(gateway: Gateway, video_path: Path, redis_db_url: str) -> None:
    async with gateway(redis_url=redis_db_url, job_workers=0) as c:
        video = await upload(c, video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "q",
                                             "async": True})
        cancelled = await c.post(f"/v1/jobs/{r.json()['job_id']}/cancel")
    assert cancelled.json()["status"] == "cancelled"
