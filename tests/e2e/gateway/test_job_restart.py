"""A REAL restart: `python -m service` killed with SIGKILL mid-job, a new process finishes.

Gateway 1 (Redis jobs, one job worker, a vLLM stand-in that takes 3 s per call) gets
two async jobs: the first is RUNNING (its request is in flight at the stand-in), the
second is QUEUED behind it. Gateway 1 is then killed -9: no shutdown code runs, no
ack, no status write. Gateway 2 starts on the same Redis and data directory and must
finish both: the queued one by reading the Stream, the running one by reclaiming the
dead consumer's pending entry once it has been idle `O3_JOB_CLAIM_IDLE_S` (1 s here).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import redis

from service.inference.doubles import ScriptedBackend
from tests.e2e.gateway.conftest import TRACE, Gateway, start_gateway, stop
from tests.support.vllm_standin import StandinState, start_standin

DELAY_S = 3.0


def wait_for(check: Any, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


def job(gw: Gateway, job_id: str) -> dict[str, Any]:
    body: dict[str, Any] = httpx.get(f"{gw.url}/v1/jobs/{job_id}", timeout=10).json()
    return body


def submit(gw: Gateway, video_id: str, question: str) -> str:
    r = httpx.post(f"{gw.url}/v1/reason", timeout=30, json={
        "video_id": video_id, "question": question, "voting": "majority", "n": 2,
        "async": True})
    assert r.status_code == 202, r.text
    return str(r.json()["job_id"])


def redis_status(url: str, job_id: str) -> bytes | None:
    value: bytes | None = redis.Redis.from_url(url).hget(f"o3:job:{job_id}", "status")
    return value


@pytest.mark.timeout(180)
def test_kill_9_mid_job_then_a_new_process_completes_it(
        tmp_path: Path, video_file: Path, redis_url: str) -> None:
    db_url = urlsplit(redis_url)._replace(path="/6").geturl()  # a database of its own
    redis.Redis.from_url(db_url).flushdb()
    state = StandinState()
    data_dir = tmp_path / "shared-data"
    (tmp_path / "one").mkdir()
    (tmp_path / "two").mkdir()
    with start_standin(ScriptedBackend([TRACE], delay=DELAY_S), state=state) as vllm_url:
        env = {"O3_VLLM_URL": vllm_url, "O3_VLLM_MODEL": "scripted-double",
               "O3_REDIS_URL": db_url, "O3_JOB_CLAIM_IDLE_S": "1", "O3_JOB_WORKERS": "1",
               "O3_DATA_DIR": str(data_dir)}
        first = start_gateway(tmp_path / "one", env)
        try:
            with video_file.open("rb") as f:
                video_id = httpx.post(f"{first.url}/v1/videos", files={"file": ("v.mp4", f)},
                                      timeout=30).json()["id"]
            running = submit(first, video_id, "first")
            queued = submit(first, video_id, "second")
            wait_for(lambda: len(state.requests) == 1 and job(first, running)["status"]
                     == "running", 20, "the first job to be running at the backend")
            assert job(first, queued)["status"] == "queued"
        finally:
            first.proc.kill()  # SIGKILL: no lifespan shutdown, no ack
            first.proc.wait(timeout=10)
        assert redis_status(db_url, running) == b'"running"'  # left mid-flight
        wait_for(lambda: state.disconnects == 1, 10, "the stand-in to see the dead client")
        second = start_gateway(tmp_path / "two", env)
        try:
            wait_for(lambda: all(job(second, j)["status"] in ("done", "failed")
                                 for j in (running, queued)), 60, "both jobs to finish")
            results = {j: job(second, j) for j in (running, queued)}
        finally:
            stop(second)
    for body in results.values():
        assert body["status"] == "done", body
        assert body["result"]["answer"] == "A" and body["result"]["video_id"] == video_id
    # the running job was sent to the backend twice (killed, then reclaimed); the queued
    # one once; only gateway 2's calls were answered
    assert len(state.requests) == 3 and state.completed == 2 and state.disconnects == 1
    assert redis.Redis.from_url(db_url).xpending("o3:jobs", "o3-gateways")["pending"] == 0
