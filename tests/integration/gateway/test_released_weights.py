"""`weight_mode: "released"` through the gateway: /v1/reason and the OpenAI chat extra
field reach the pipeline's released test-time scaling (docs/VOTING.md); a value
outside the three modes is a 400.

The scorer double replies "2\\n": our default reads 2 (weight 1.0), the release only
reads the exact "2" (so 0.2), which shows which mode ran.
"""

from __future__ import annotations

from pathlib import Path

from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway, upload
from tests.integration.gateway.test_openai import client_for, frame_url

OPTIONS = ["A. x", "B. y"]


async def test_reason_weight_mode_released(gateway: Gateway, video_path: Path) -> None:
    weights = {}
    for mode in ("code", "released"):
        backend = ScriptedBackend([TRACE], scores=["2\n"])
        async with gateway(backend) as c:
            video = await upload(c, video_path)
            r = await c.post("/v1/reason", json={
                "video_id": video["id"], "question": "Which?", "options": OPTIONS, "n": 2,
                "weight_mode": mode, "return_traces": True})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["answer"] == "A"
        weights[mode] = [t["weight"] for t in body["traces"]]
        (call, *_) = [c for c in backend.calls if c.kind == "score"]
        released = mode == "released"
        assert (call.sampling is not None) == released  # released: the request's + 1.05
    assert weights == {"code": [1.0, 1.0], "released": [0.2, 0.2]}


async def test_reason_rejects_an_unknown_weight_mode(gateway: Gateway, video_path: Path) -> None:
    async with gateway(ScriptedBackend([TRACE])) as c:
        video = await upload(c, video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                             "weight_mode": "exact"})
    assert r.status_code == 400, r.text
    assert "weight_mode" in r.text


async def test_chat_extra_weight_mode_released(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE], scores=["2\n"])
    async with gateway(backend) as c:
        video = await upload(c, video_path)
        resp = await client_for(c).chat.completions.create(
            model="m", n=2, messages=[{"role": "user", "content": [
                {"type": "video_url", "video_url": {"url": f"video://{video['id']}"}},
                {"type": "text", "text": "Which?\nA. x\nB. y"}]}],  # type: ignore[misc, list-item]
            extra_body={"weight_mode": "released"})
    assert resp.choices[0].message.content == "A"
    scored = [c for c in backend.calls if c.kind == "score"]
    assert scored and all(c.sampling is not None and c.sampling.repetition_penalty == 1.05
                          for c in scored)


async def test_chat_image_frames_path_honours_weight_mode(gateway: Gateway) -> None:
    backend = ScriptedBackend([TRACE], scores=["2\n"])
    async with gateway(backend) as c:
        await client_for(c).chat.completions.create(
            model="m", n=2, messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": frame_url((255, 0, 0))}},
                {"type": "image_url", "image_url": {"url": frame_url((0, 0, 255))}},
                {"type": "text", "text": "Which?\nA. x\nB. y"}]}],  # type: ignore[misc, list-item]
            extra_body={"weight_mode": "released", "frame_times": [0.0, 1.0], "duration": 2.0})
    scored = [c for c in backend.calls if c.kind == "score"]
    assert scored and all(c.sampling is not None and c.sampling.repetition_penalty == 1.05
                          for c in scored)
