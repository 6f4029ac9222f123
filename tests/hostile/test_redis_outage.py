"""Redis killed and restarted under a running gateway (`python -m service`, its own
redis-server on a spare port, never the shared one): job routes answer 503
`state_unavailable` with Retry-After (not 500, not a dropped connection), /ready is
503 `redis_unavailable` while Redis is down, synchronous answers go on without the
cache, and everything recovers without restarting the gateway."""

from __future__ import annotations

import asyncio
import signal
import threading
import time
from collections import Counter
from pathlib import Path

import httpx
import pytest

from service.state.jobs import JobRecord, Outcome, RedisJobQueue
from service.state.redis_client import StateUnavailable, connect
from service.video.synth import write_moving_square
from tests.conftest import free_port, start_redis
from tests.hostile.conftest import assert_error, process_gateway


def _eventually(check: object, seconds: float = 45.0) -> None:
    deadline = time.monotonic() + seconds
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except httpx.HTTPError:
            pass
        assert time.monotonic() < deadline, "did not recover in time"
        time.sleep(0.2)


class Traffic:
    """Clients in threads sending reason, job and job-poll requests until stopped;
    every status (and any transport error) is counted."""

    def __init__(self, url: str, vid: str, clients: int = 4) -> None:
        self.url, self.vid = url, vid
        self.seen: Counter[str] = Counter()
        self.stop = threading.Event()
        self.threads = [threading.Thread(target=self._run, args=(i,), daemon=True)
                        for i in range(clients)]
        for t in self.threads:
            t.start()

    def _run(self, i: int) -> None:
        with httpx.Client(base_url=self.url, timeout=30) as c:
            n = 0
            while not self.stop.is_set():
                n += 1
                body = {"video_id": self.vid, "question": f"t{i}-{n % 5}", "async": n % 2 == 0}
                try:
                    r = c.post("/v1/reason", json=body)
                    self.seen[str(r.status_code)] += 1
                    if r.status_code == 202:
                        got = c.get(f"/v1/jobs/{r.json()['job_id']}")
                        self.seen[str(got.status_code)] += 1
                except httpx.HTTPError as exc:
                    self.seen[type(exc).__name__] += 1
                time.sleep(0.02)

    def finish(self) -> Counter[str]:
        self.stop.set()
        for t in self.threads:
            t.join(timeout=60)
        return self.seen


def test_redis_killed_and_restarted_mid_run(tmp_path: Path) -> None:
    port = free_port()
    redis_proc, url = start_redis(tmp_path, port)
    video = tmp_path / "v.mp4"
    write_moving_square(video, duration=1.0)
    try:
        with process_gateway(tmp_path / "gw", {"O3_REDIS_URL": url}) as gw:
            with video.open("rb") as f:
                vid = httpx.post(f"{gw.url}/v1/videos", files={"file": ("v.mp4", f)}).json()["id"]
            job = httpx.post(f"{gw.url}/v1/reason", json={
                "video_id": vid, "question": "q", "async": True}).json()["job_id"]
            assert httpx.get(f"{gw.url}/ready").status_code == 200
            traffic = Traffic(gw.url, vid)  # load on while Redis dies and comes back
            time.sleep(1.0)

            redis_proc.send_signal(signal.SIGKILL)
            redis_proc.wait(timeout=10)
            with httpx.Client(base_url=gw.url, timeout=30) as c:
                for r in (c.get(f"/v1/jobs/{job}"), c.post(f"/v1/jobs/{job}/cancel"),
                          c.delete(f"/v1/jobs/{job}"),
                          c.post("/v1/reason", json={"video_id": vid, "question": "j",
                                                      "async": True})):
                    assert_error(r, 503, "state_unavailable")
                    assert r.headers["retry-after"] == "1"
                assert_error(c.get("/ready"), 503, "redis_unavailable")
                # a synchronous answer needs no Redis: answered without the cache
                r = c.post("/v1/reason", json={"video_id": vid, "question": "sync"})
                assert r.status_code == 200 and r.json()["cached"] is False

            redis_proc, _ = start_redis(tmp_path, port)  # back, empty (no persistence)
            _eventually(lambda: httpx.get(f"{gw.url}/ready").status_code == 200)
            r = httpx.post(f"{gw.url}/v1/reason", json={
                "video_id": vid, "question": "after", "async": True})
            assert r.status_code == 202
            new_job = r.json()["job_id"]
            _eventually(lambda: httpx.get(f"{gw.url}/v1/jobs/{new_job}").json()["status"]
                        == "done")
            # the job queued before the outage died with Redis's memory: 404, not 500
            assert_error(httpx.get(f"{gw.url}/v1/jobs/{job}"), 404, "job_not_found")
            seen = traffic.finish()
            # during the run: answers, jobs, 503s while Redis was down; never a 500 or a
            # dropped connection (404: a job that vanished with Redis's memory)
            assert set(seen) <= {"200", "202", "404", "503"}, (seen, gw.server_errors())
            assert seen["503"] > 0 and seen["202"] > 0 and seen["200"] > 0, seen
    finally:
        redis_proc.kill()
        redis_proc.wait(timeout=10)


async def test_job_worker_survives_an_outage_between_read_and_get(
        redis_db_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # Redis gone between XREADGROUP and the record's HGETALL: get() raises the API's
    # StateUnavailable inside the worker; the worker must retry, not die (a dead worker
    # never runs another job)
    client = connect(redis_db_url)
    queue = RedisJobQueue(client, ttl_s=60, claim_idle_s=0.5)
    real_get = queue.get
    failures = [1]

    async def flaky_get(job_id: str) -> JobRecord | None:
        if failures:
            failures.pop()
            raise StateUnavailable("down for a moment")
        return await real_get(job_id)

    monkeypatch.setattr(queue, "get", flaky_get)
    ran = asyncio.Event()

    async def handler(rec: JobRecord) -> Outcome:
        ran.set()
        return "done", {}

    queue.start(handler, 1)
    try:
        rec = await queue.submit({"fields": {}})
        await asyncio.wait_for(ran.wait(), 20)  # reclaimed after the failed delivery
        assert not failures
        for _ in range(100):
            done = await real_get(rec.id)
            if done is not None and done.status == "done":
                break
            await asyncio.sleep(0.05)
        assert done is not None and done.status == "done"
    finally:
        await queue.close()
        await client.aclose()
