"""The OpenAI-compatible surface in-process, driven by the official `openai` client."""

from __future__ import annotations

import base64
import io
from pathlib import Path

import httpx
import openai
import pytest
from PIL import Image

from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway, upload


def client_for(c: httpx.AsyncClient) -> openai.AsyncOpenAI:
    app = c.app  # type: ignore[attr-defined]
    http = httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://gw")
    return openai.AsyncOpenAI(base_url="http://gw/v1", api_key="unused", http_client=http)


def frame_url(color: tuple[int, int, int]) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (320, 240), color).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def test_models_lists_served_model(gateway: Gateway) -> None:
    async with gateway() as c:
        models = await client_for(c).models.list()
    assert [m.id for m in models.data] == ["scripted-double"]


async def test_image_frames_with_times(gateway: Gateway) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        resp = await client_for(c).chat.completions.create(
            model="any", n=3, max_tokens=64, temperature=0.5,
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": frame_url((255, 0, 0))}},
                {"type": "image_url", "image_url": {"url": frame_url((0, 0, 255))}},
                {"type": "text", "text": "Which color? A. red B. blue"}]}],
            extra_body={"frame_times": [0.0, 4.0]})
    choice = resp.choices[0]
    assert choice.message.content == "A"                      # the answer only
    assert "square" in choice.message.reasoning_content       # type: ignore[attr-defined]
    grounding = resp.model_extra["grounding"]                 # type: ignore[index]
    assert grounding["frames"]["times"] == [0.0, 4.0]         # times from the request
    assert grounding["frames"]["fed_size"][0] % 28 == 0       # resized by the sampler rule
    sample = next(call for call in backend.calls if call.kind == "sample")
    assert (sample.n, sample.image_count, sample.sampling.max_tokens) == (3, 2, 64)
    assert sample.sampling.temperature == 0.5
    assert resp.usage is not None and resp.usage.total_tokens > 0


async def test_video_reference_and_data_url(gateway: Gateway, video_path: Path) -> None:
    async with gateway() as c:
        video = await upload(c, video_path)
        oai = client_for(c)
        by_ref = await oai.chat.completions.create(model="m", messages=[{"role": "user",
            "content": [{"type": "video_url", "video_url": {"url": f"video://{video['id']}"}},
                        {"type": "text", "text": "What moves?"}]}])  # type: ignore[misc, list-item]
        data = "data:video/mp4;base64," + base64.b64encode(video_path.read_bytes()).decode()
        by_data = await oai.chat.completions.create(model="m", messages=[{"role": "user",
            "content": [{"type": "video_url", "video_url": {"url": data}},
                        {"type": "text", "text": "What moves?"}]}])  # type: ignore[misc, list-item]
    assert by_ref.choices[0].message.content == by_data.choices[0].message.content == "A"
    # the data URL was stored under the same content id, then answered from the cache
    assert by_data.model_extra["grounding"]["video_id"] == video["id"]  # type: ignore[index]
    assert by_data.model_extra["grounding"]["cached"] is True  # type: ignore[index]


async def test_streaming_ends_with_usage(gateway: Gateway) -> None:
    async with gateway() as c:
        stream = await client_for(c).chat.completions.create(
            model="m", stream=True, stream_options={"include_usage": True},
            messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": frame_url((0, 255, 0))}},
                {"type": "text", "text": "Which? A. green B. red"}]}])
        chunks = [chunk async for chunk in stream]
    content = "".join(ch.choices[0].delta.content or "" for ch in chunks if ch.choices)
    assert content == "A"
    assert chunks[-1].choices == [] and chunks[-1].usage is not None
    assert any(ch.choices and ch.choices[0].finish_reason == "stop" for ch in chunks)


async def test_openai_error_shape_via_client(gateway: Gateway) -> None:
    async with gateway(api_keys="right-key") as c:
        with pytest.raises(openai.AuthenticationError) as err:
            await client_for(c).models.list()
    assert err.value.code == "invalid_api_key"


def frames_request(colors: list[tuple[int, int, int]], times: list[float],
                   temperature: float = 1.0) -> dict[str, object]:
    parts: list[dict[str, object]] = [
        {"type": "image_url", "image_url": {"url": frame_url(c)}} for c in colors]
    parts.append({"type": "text", "text": "Which color? A. red B. blue"})
    return {"model": "m", "n": 2, "temperature": temperature, "frame_times": times,
            "messages": [{"role": "user", "content": parts}]}


RED, BLUE = (255, 0, 0), (0, 0, 255)
BASE = frames_request([RED, BLUE], [0.0, 4.0])
# a request that differs from BASE in one thing -> must not share its cache entry
FRAME_CACHE_MISSES = [
    frames_request([RED, (0, 0, 254)], [0.0, 4.0]),        # one frame's bytes differ
    frames_request([RED, BLUE], [0.0, 5.0]),               # same frames, other times
    frames_request([RED, BLUE], [0.0, 4.0], temperature=0.7),  # a sampling parameter
    frames_request([BLUE, RED], [0.0, 4.0]),               # same frames, other order
]


async def test_image_frames_answered_from_cache(gateway: Gateway) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        first = await c.post("/v1/chat/completions", json=BASE)
        calls = len(backend.calls)
        again = await c.post("/v1/chat/completions", json=BASE)
        after_hit = len(backend.calls)
        misses = [await c.post("/v1/chat/completions", json=body)
                  for body in FRAME_CACHE_MISSES]
        metrics = (await c.get("/metrics")).text
    assert first.status_code == again.status_code == 200, again.text
    assert calls > 0 and after_hit == calls  # the repeat did no backend call at all
    assert first.json()["grounding"]["cached"] is False
    assert again.json()["grounding"]["cached"] is True
    assert again.json()["choices"][0]["message"] == first.json()["choices"][0]["message"]
    assert all(m.status_code == 200 and m.json()["grounding"]["cached"] is False
               for m in misses)
    assert len(backend.calls) >= after_hit + len(FRAME_CACHE_MISSES)
    assert 'o3_cache_requests_total{result="hit"} 1.0' in metrics
