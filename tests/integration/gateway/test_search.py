"""`strategy` on /v1/reason and chat: a search runs as a job with progress (followed
here over SSE), answers from what the frames show (the perceptive double), and a short
video under the auto threshold takes exactly today's uniform path."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from service.grounding.prompt import build_prompt
from service.inference.doubles import ScriptedBackend
from service.inference.perceptive.double import PerceptiveDouble
from service.video.needle import QUESTION, NeedleSpec, NeedleTruth, write_needle_video
from service.video.policy import FramePolicy
from service.video.sampler import sample_video
from tests.integration.gateway.conftest import Gateway, upload, wait_job


@pytest.fixture(scope="module")
def needle(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, NeedleTruth]:
    path = tmp_path_factory.mktemp("needle") / "needle.mp4"
    return path, write_needle_video(path, NeedleSpec(duration=320.0, seed=7))


def answer_time(answer: str | None) -> float | None:
    m = re.search(r"at (\d+(?:\.\d+)?)s", answer or "")
    return float(m.group(1)) if m else None


def sse(text: str) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a server-sent event stream."""
    out = []
    for block in text.split("\n\n"):
        lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line
                     and not line.startswith(":"))
        if "event" in lines:
            out.append((lines["event"], json.loads(lines["data"])))
    return out


async def follow(c: Any, job_id: str, timeout: float = 60.0) -> Any:
    """GET .../events, bounded in time; fails with the job's state if it never ends."""
    import asyncio

    try:
        async with asyncio.timeout(timeout):
            return await c.get(f"/v1/jobs/{job_id}/events")
    except TimeoutError:
        job = (await c.get(f"/v1/jobs/{job_id}")).json()
        raise AssertionError(f"events of {job_id} did not end in {timeout} s: {job}") from None


async def test_auto_searches_a_long_video_as_a_job_with_progress_events(
        gateway: Gateway, needle: tuple[Path, NeedleTruth]) -> None:
    path, truth = needle
    async with gateway(PerceptiveDouble(hallucination=0.2), search_auto_min_duration_s=60.0,
                       sync_max_duration_s=400.0, max_duration_s=3600.0) as c:
        vid = (await upload(c, path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": QUESTION, "n": 8})
        assert r.status_code == 202, r.text      # a search is always a job
        job_id = r.json()["job_id"]
        events = await follow(c, job_id)
        assert events.headers["content-type"].startswith("text/event-stream")
        got = sse(events.text)
        assert got[-1][0] == "done" and got[-1][1]["status"] == "done"
        progress = [d["progress"] for e, d in got if e == "status" and d.get("progress")]
        assert progress and all(p["chunks_total"] == 10 for p in progress)
        scanned = [p["chunks_scanned"] for p in progress]
        assert scanned == sorted(scanned)        # never goes backwards
        result = got[-1][1]["result"]
    t = answer_time(result["answer"])
    assert t is not None and truth.contains(t, slack=1.0), result["answer"]
    assert all(truth.contains(e["time"]) for e in result["evidence"])
    s = result["search"]
    assert len(s["chunks"]) == 10 and s["windows"]
    assert s["windows"][0]["start"] <= truth.start <= s["windows"][0]["end"]
    assert result["usage"]["scan"]["prompt_tokens"] > 0
    assert result["usage"]["prompt_tokens"] == (result["usage"]["sampling"]["prompt_tokens"]
                                                + result["usage"]["verify"]["prompt_tokens"]
                                                + result["usage"]["scan"]["prompt_tokens"])
    assert {"scan", "zoom"} <= set(result["timings"])


async def test_uniform_on_the_same_long_video_misses(
        gateway: Gateway, needle: tuple[Path, NeedleTruth]) -> None:
    path, _ = needle
    async with gateway(PerceptiveDouble(), sync_max_duration_s=400.0) as c:
        vid = (await upload(c, path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": QUESTION,
                                             "strategy": "uniform", "n": 4})
        assert r.status_code == 200, r.text
        assert "does not appear" in r.json()["answer"] and r.json()["search"] is None


async def test_short_video_under_auto_takes_exactly_todays_path(
        gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend()
    async with gateway(backend) as c:
        vid = (await upload(c, video_path))["id"]
        body = {"video_id": vid, "question": "What moves?", "voting": "majority"}
        first = await c.post("/v1/reason", json=body)        # strategy defaults to auto
        assert first.status_code == 200 and first.json()["search"] is None
        # the same cache entry answers an explicit uniform request: the same key
        again = await c.post("/v1/reason", json={**body, "strategy": "uniform"})
        assert again.json()["cached"] is True
        svc = c.app.state.services  # type: ignore[attr-defined]
        assert len(svc.media.frames) == 0              # the frame cache was not touched
    # one backend call, and its prompt is the uniform prompt over the sampler's frames
    assert [call.kind for call in backend.calls] == ["sample"]
    meta = sample_video(video_path, FramePolicy(num_frames=16)).frameset.meta
    assert backend.calls[0].prompt == build_prompt("What moves?", meta.times,
                                                   duration=meta.duration)


async def test_the_strategy_changes_the_cache_key_only_for_search(
        gateway: Gateway, video_path: Path) -> None:
    async with gateway() as c:
        svc = c.app.state.services.reason  # type: ignore[attr-defined]
        vid = "a" * 64
        base = {"video_id": vid, "question": "q"}
        keys = {name: svc.parse_json(json.dumps({**base, **extra}).encode())[1]
                for name, extra in [("absent", {}), ("auto", {"strategy": "auto"}),
                                    ("uniform", {"strategy": "uniform"}),
                                    ("search", {"strategy": "search"}),
                                    ("search2", {"strategy": "search",
                                                 "search": {"chunk_s": 10}})]}
    assert keys["absent"] == keys["auto"] == keys["uniform"]
    assert len({keys["uniform"], keys["search"], keys["search2"]}) == 3


@pytest.mark.parametrize(("search", "settings", "code"), [
    ({"concurrency": 9}, {"search_concurrency": 8}, "invalid_search"),
    ({}, {"search_max_chunks": 5}, "search_too_large"),      # 320 s / 32 s = 10 chunks
    ({"chunk_s": 1}, {}, "invalid_request"),                 # below the wire limit
])
async def test_search_limits_are_a_clear_400(gateway: Gateway, needle: tuple[Path, NeedleTruth],
                                            search: dict[str, Any], settings: dict[str, Any],
                                            code: str) -> None:
    path, _ = needle
    async with gateway(PerceptiveDouble(), **settings) as c:
        vid = (await upload(c, path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": QUESTION,
                                             "strategy": "search", "search": search})
        assert r.status_code == 400, r.text
        assert r.json()["error"]["code"] == code


async def test_chat_extra_field_runs_the_search(
        gateway: Gateway, needle: tuple[Path, NeedleTruth]) -> None:
    path, truth = needle
    async with gateway(PerceptiveDouble()) as c:
        vid = (await upload(c, path))["id"]
        r = await c.post("/v1/chat/completions", json={
            "model": "x", "strategy": "search", "n": 4, "messages": [{"role": "user", "content": [
                {"type": "video_url", "video_url": {"url": f"video://{vid}"}},
                {"type": "text", "text": QUESTION}]}]})
        assert r.status_code == 200, r.text
        body = r.json()
    t = answer_time(body["choices"][0]["message"]["content"])
    assert t is not None and truth.contains(t, slack=1.0)
    assert body["grounding"]["search"]["windows"]


async def test_events_of_an_unknown_job_is_404(gateway: Gateway) -> None:
    async with gateway() as c:
        r = await c.get("/v1/jobs/job_" + "0" * 32 + "/events")
        assert r.status_code == 404 and r.json()["error"]["code"] == "job_not_found"


async def test_polling_still_shows_progress_fields(gateway: Gateway,
                                                   needle: tuple[Path, NeedleTruth]) -> None:
    path, _ = needle
    async with gateway(PerceptiveDouble()) as c:
        vid = (await upload(c, path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": QUESTION,
                                             "strategy": "search", "n": 2})
        job = await wait_job(c, r.json()["job_id"], timeout=60)
        assert job["status"] == "done" and "progress" in job


async def test_search_job_progress_over_redis(gateway: Gateway, needle: tuple[Path, NeedleTruth],
                                              redis_db_url: str) -> None:
    path, truth = needle
    async with gateway(PerceptiveDouble(), redis_url=redis_db_url) as c:
        vid = (await upload(c, path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": QUESTION,
                                             "strategy": "search", "n": 4})
        got = sse((await follow(c, r.json()["job_id"])).text)
    assert any(d.get("progress") for e, d in got if e == "status")
    assert got[-1][0] == "done"
    t = answer_time(got[-1][1]["result"]["answer"])
    assert t is not None and truth.contains(t, slack=1.0)


async def test_progress_is_written_only_while_running(redis_db_url: str) -> None:
    from service.state.jobs import MemoryJobQueue, RedisJobQueue
    from service.state.redis_client import connect

    client = connect(redis_db_url)
    queues = [MemoryJobQueue(), RedisJobQueue(client, ttl_s=60, claim_idle_s=30)]
    try:
        for q in queues:
            rec = await q.submit({"fields": {}})
            assert await q.set_progress(rec.id, {"stage": "scan"}) is False   # queued
            await q.cancel(rec.id)
            assert await q.set_progress(rec.id, {"stage": "scan"}) is False   # final
            got = await q.get(rec.id)
            assert got is not None and got.progress is None
    finally:
        await client.aclose()  # type: ignore[attr-defined]


async def test_auto_never_serves_a_uniform_answer_for_a_long_video(
        gateway: Gateway, needle: tuple[Path, NeedleTruth]) -> None:
    path, _ = needle
    async with gateway(PerceptiveDouble(), search_auto_min_duration_s=60.0,
                       sync_max_duration_s=400.0) as c:
        vid = (await upload(c, path))["id"]
        body = {"video_id": vid, "question": QUESTION, "n": 2}
        uniform = await c.post("/v1/reason", json={**body, "strategy": "uniform"})
        assert uniform.status_code == 200                 # cached under the uniform key
        auto = await c.post("/v1/reason", json=body)      # 320 s > 60 s: a search
        assert auto.status_code == 202, auto.text
        job = await wait_job(c, auto.json()["job_id"], timeout=60)
        assert job["result"]["search"] is not None and job["result"]["cached"] is False


async def test_search_stages_reach_the_metrics(gateway: Gateway,
                                               needle: tuple[Path, NeedleTruth]) -> None:
    path, _ = needle
    async with gateway(PerceptiveDouble()) as c:
        vid = (await upload(c, path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": QUESTION,
                                             "strategy": "search", "n": 2})
        await wait_job(c, r.json()["job_id"], timeout=60)
        text = (await c.get("/metrics")).text
    for stage in ("scan", "zoom"):
        assert f'stage="{stage}"' in text
