"""/v1/reason and /v1/videos in-process: real PyAV videos, ScriptedBackend, real cache."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway, upload, wait_job


async def test_upload_then_reason_json(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        video = await upload(c, video_path)
        # guards: the id is the tenant-scoped HMAC of the bytes' sha256 (never the bare
        # sha256), probe metadata is returned
        media = c.app.state.services.media  # type: ignore[attr-defined]
        sha = hashlib.sha256(video_path.read_bytes()).hexdigest()
        assert video["id"] == media.store.video_id("default", sha) != sha
        assert video["duration"] > 1.5 and video["width"] == 160
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                             "options": ["A. red", "B. blue"], "n": 3})
        assert r.status_code == 200, r.text
        body = r.json()
    assert body["answer"] == "A" and body["confidence"] > 0.99
    assert body["evidence"][0]["object"] == "square"
    assert body["frames"]["original_size"] == [160, 120]
    assert body["usage"]["total_tokens"] > 0 and body["cached"] is False
    assert r.headers["x-request-id"] == body["request_id"]
    sample_calls = [call for call in backend.calls if call.kind == "sample"]
    assert len(sample_calls) == 1 and sample_calls[0].n == 3


async def test_multipart_reason_and_cache_hit(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        with video_path.open("rb") as f:
            r = await c.post("/v1/reason", files={"file": ("v.mp4", f, "video/mp4")},
                             data={"question": "Which?", "options": json.dumps(["A. x", "B. y"]),
                                   "n": "2", "sampling": json.dumps({"temperature": 0.7})})
        assert r.status_code == 200, r.text
        first = r.json()
        calls = len(backend.calls)
        again = await c.post("/v1/reason", json={
            "video_id": first["video_id"], "question": "Which?", "options": ["A. x", "B. y"],
            "n": 2, "sampling": {"temperature": 0.7}})
        assert again.status_code == 200
        # guards: a cached request does no inference at all
        assert len(backend.calls) == calls and again.json()["cached"] is True
        assert again.json()["answer"] == first["answer"]
        metrics = (await c.get("/metrics")).text
    assert 'o3_cache_requests_total{result="hit"} 1.0' in metrics


async def test_long_video_becomes_job(gateway: Gateway, long_video_path: Path) -> None:
    async with gateway() as c:
        video = await upload(c, long_video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?"})
        assert r.status_code == 202, r.text
        job_id = r.json()["job_id"]
        assert r.headers["location"] == f"/v1/jobs/{job_id}"
        job = await wait_job(c, job_id)
    assert job["status"] == "done", job
    assert job["result"]["answer"] == "A"


def no_duplicate_keys(pairs: list[tuple[str, object]]) -> dict[str, object]:
    keys = [k for k, _ in pairs]
    assert len(keys) == len(set(keys)), f"duplicate keys in {keys}"
    return dict(pairs)


async def test_cache_hit_gets_its_own_ids_and_the_same_result(gateway: Gateway,
                                                              video_path: Path) -> None:
    # the hit is spliced from stored bytes: it must still be one valid JSON object with
    # this request's ids, and otherwise exactly the computed response
    async with gateway() as c:
        video = await upload(c, video_path)
        ask = {"video_id": video["id"], "question": "Which?", "n": 2}
        first = await c.post("/v1/reason", json=ask, headers={"X-Request-ID": "rid-one"})
        hit = await c.post("/v1/reason", json=ask, headers={"X-Request-ID": "rid-two"})
    a = json.loads(first.content, object_pairs_hook=no_duplicate_keys)
    b = json.loads(hit.content, object_pairs_hook=no_duplicate_keys)
    assert hit.headers["content-type"] == "application/json"
    assert (a["cached"], b["cached"]) == (False, True)
    assert (a["request_id"], b["request_id"]) == ("rid-one", "rid-two")
    assert a["id"] != b["id"] and b["id"].startswith("rsn_")
    per_request = {"id", "request_id", "cached"}
    assert {k: v for k, v in a.items() if k not in per_request} == {
        k: v for k, v in b.items() if k not in per_request}
