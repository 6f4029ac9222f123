"""OpenAI semantics of /v1/chat/completions with the official `openai` client, and the
exact requests lmms-eval's `openai_compatible` model sends (both of its branches).

lmms-eval (lmms_eval/models/simple/openai_compatible.py, read from its repository):
one user message, the task text FIRST, then every frame as a native-size PNG
`image_url`; `max_tokens` + `temperature` (0 unless --gen_kwargs says otherwise);
and when the model id contains "o1" or "o3" (ours: marinero4972/Open-o3-Video) it drops
`temperature` and `max_tokens` and sends `reasoning_effort: "medium"`,
`response_format: {"type": "text"}` and `max_completion_tokens` instead. Any error is
retried `max_retries` times and then scored as an empty answer.
"""

from __future__ import annotations

import base64
import io
import random
from collections.abc import Sequence
from typing import Any

import openai
import pytest
from PIL import Image

from service.grounding.types import Prompt
from service.inference.backend import Completion, SampleResult, SamplingParams
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway
from tests.integration.gateway.test_openai import client_for

MODEL = "marinero4972/Open-o3-Video"


def png_frame(size: tuple[int, int], seed: int) -> str:
    """What lmms-eval's encode_video sends per frame: the decoded frame as PNG base64
    (noise: compresses like a real frame does, i.e. hardly)."""
    buf = io.BytesIO()
    noise = random.Random(seed).randbytes(size[0] * size[1] * 3)
    Image.frombytes("RGB", size, noise).save(buf, format="PNG")
    return base64.b64encode(buf.getvalue()).decode()


def lmms_eval_payload(model: str, frames: int, size: tuple[int, int] = (320, 180),
                      max_new_tokens: int = 1024, temperature: float = 0) -> dict[str, Any]:
    """lmms-eval's payload, field for field, both branches (see the module docstring)."""
    context = "Which colour is the square?\nA. red\nB. blue\nAnswer with the option's letter."
    content: list[dict[str, Any]] = [{"type": "text", "text": context}]
    for i in range(frames):
        content.append({"type": "image_url",
                        "image_url": {"url": f"data:image/png;base64,{png_frame(size, i)}"}})
    payload: dict[str, Any] = {"messages": [{"role": "user", "content": content}],
                               "model": model, "max_tokens": max_new_tokens,
                               "temperature": temperature}
    if "o1" in model or "o3" in model:
        del payload["temperature"]
        payload["reasoning_effort"] = "medium"
        payload["response_format"] = {"type": "text"}
        payload.pop("max_tokens")
        payload["max_completion_tokens"] = max_new_tokens
    return payload


def sample_calls(backend: ScriptedBackend) -> list[Any]:
    return [c for c in backend.calls if c.kind == "sample"]


async def test_lmms_eval_o3_branch(gateway: Gateway) -> None:
    """Our model id contains "o3": no temperature (the gateway's default 1.0 and N
    apply, so --gen_kwargs temperature has no effect), max_completion_tokens honoured,
    reasoning_effort and response_format text accepted."""
    payload = lmms_eval_payload(MODEL, frames=8, max_new_tokens=512)
    assert "temperature" not in payload and payload["reasoning_effort"] == "medium"
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, default_n=8) as c:
        resp = await client_for(c).chat.completions.create(**payload)
    assert resp.choices[0].message.content == "A"
    (call,) = sample_calls(backend)
    assert (call.n, call.image_count) == (8, 8)
    assert call.sampling.temperature == 1.0 and call.sampling.max_tokens == 512


async def test_lmms_eval_plain_branch_greedy(gateway: Gateway) -> None:
    """A model id without "o1"/"o3": temperature 0 + max_tokens; greedy, so ONE n=1
    sample reported N times (what vLLM would otherwise refuse), and the response says so."""
    payload = lmms_eval_payload("open-video", frames=4, max_new_tokens=256)
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, default_n=8) as c:
        resp = await client_for(c).chat.completions.create(**payload)
    (call,) = sample_calls(backend)
    assert (call.n, call.sampling.temperature, call.sampling.max_tokens) == (1, 0.0, 256)
    grounding = resp.model_extra["grounding"]  # type: ignore[index]
    assert grounding["greedy_repeated"] is True and grounding["votes"][0]["votes"] == 8


async def test_lmms_eval_more_frames_than_the_image_limit(gateway: Gateway) -> None:
    """max_frames_num above O3_MAX_IMAGES: a 400 that names the limit (lmms-eval logs it
    on each retry), not a vLLM error after the upload."""
    payload = lmms_eval_payload(MODEL, frames=11, size=(56, 56))
    async with gateway(max_images=10, default_num_frames=8) as c:
        with pytest.raises(openai.BadRequestError) as err:
            await client_for(c).chat.completions.create(**payload)
    assert err.value.code == "too_many_frames"
    assert "image limit of 10" in str(err.value) and "O3_MAX_IMAGES" in str(err.value)


async def test_lmms_eval_payload_over_the_body_cap(gateway: Gateway) -> None:
    """Native-size PNG frames can exceed the body cap (64 x 1080p ~ 250 MB of base64 vs
    128 MiB): a 413 `body_too_large` whose message says what to do (the guide explains)."""
    payload = lmms_eval_payload(MODEL, frames=4, size=(640, 360))
    async with gateway(max_chat_body_bytes=200_000) as c:  # the same check, a smaller cap
        raw = await c.post("/v1/chat/completions", json=payload)
    assert raw.status_code == 413
    error = raw.json()["error"]
    assert error["code"] == "body_too_large" and "exceeds 200000 bytes" in error["message"]


async def test_quickstart_stream_loop_without_usage(gateway: Gateway) -> None:
    """OpenAI's quickstart: `for chunk in stream: chunk.choices[0].delta.content`. No
    usage chunk (no choices) unless stream_options.include_usage."""
    payload = lmms_eval_payload(MODEL, frames=2)
    async with gateway() as c:
        stream = await client_for(c).chat.completions.create(**payload, stream=True)
        text = ""
        async for chunk in stream:
            text += chunk.choices[0].delta.content or ""
            assert chunk.usage is None
    assert text == "A"


class CutBackend(ScriptedBackend):
    """Replays the script, reporting every completion as cut at the token limit."""

    async def sample(self, prompt: Prompt, images: Sequence[Image.Image], n: int,
                     sampling: SamplingParams) -> SampleResult:
        result = await super().sample(prompt, images, n, sampling)
        cut = tuple(Completion(c.text, "length", c.tokens) for c in result.completions)
        return SampleResult(cut, result.usage)


@pytest.mark.parametrize("stream", [False, True])
async def test_finish_reason_is_length_when_the_winning_trace_was_cut(
        gateway: Gateway, stream: bool) -> None:
    payload = lmms_eval_payload(MODEL, frames=2)
    async with gateway(CutBackend([TRACE])) as c:
        client = client_for(c)
        if not stream:
            resp = await client.chat.completions.create(**payload)
            assert resp.choices[0].finish_reason == "length"
            return
        chunks = [ch async for ch in await client.chat.completions.create(
            **payload, stream=True, stream_options={"include_usage": True})]
    finishes = [ch.choices[0].finish_reason for ch in chunks if ch.choices]
    assert finishes[-1] == "length" and chunks[-1].choices == [] and chunks[-1].usage


async def test_finish_reason_stop_and_max_completion_tokens_wins(gateway: Gateway) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        resp = await client_for(c).chat.completions.create(
            model=MODEL, max_tokens=50, max_completion_tokens=77, temperature=0.5,
            messages=lmms_eval_payload(MODEL, frames=2)["messages"])
    assert resp.choices[0].finish_reason == "stop"
    assert sample_calls(backend)[0].sampling.max_tokens == 77


@pytest.mark.parametrize("kind", ["json_object", "json_schema"])
async def test_json_response_formats_are_refused(gateway: Gateway, kind: str) -> None:
    body = {**lmms_eval_payload(MODEL, frames=1), "response_format": {"type": kind}}
    async with gateway() as c:
        raw = await c.post("/v1/chat/completions", json=body)
    assert raw.status_code == 400
    assert raw.json()["error"]["code"] == "unsupported_response_format"


async def test_reasoning_effort_values(gateway: Gateway) -> None:
    """Every value vLLM 0.32 knows is accepted; an unknown one is a 400."""
    async with gateway() as c:
        for effort in ("none", "minimal", "low", "medium", "high", "xhigh", "max"):
            body = {**lmms_eval_payload(MODEL, frames=1), "reasoning_effort": effort}
            assert (await c.post("/v1/chat/completions", json=body)).status_code == 200
        bad = {**lmms_eval_payload(MODEL, frames=1), "reasoning_effort": "extreme"}
        assert (await c.post("/v1/chat/completions", json=bad)).status_code == 400


def chat_variant_payload(frames: int) -> dict[str, Any]:
    """lmms-eval's `openai_compatible_chat`: frames (qwen_vl_utils, 2 fps) where the task
    puts the video, before the question; o3 branch: max_completion_tokens 5000, no
    reasoning_effort."""
    urls = [f"data:image/png;base64,{png_frame((56, 56), i)}" for i in range(frames)]
    content: list[dict[str, Any]] = [{"type": "image_url", "image_url": {"url": u}}
                                     for u in urls]
    content.append({"type": "text", "text": "Which colour? A. red B. blue"})
    return {"messages": [{"role": "user", "content": content}], "model": MODEL,
            "response_format": {"type": "text"}, "max_completion_tokens": 5000}


async def test_lmms_eval_chat_variant(gateway: Gateway) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, max_images=10, default_num_frames=8) as c:
        client = client_for(c)
        resp = await client.chat.completions.create(**chat_variant_payload(10))
        with pytest.raises(openai.BadRequestError) as err:  # a 33 s video at 2 fps, say
            await client.chat.completions.create(**chat_variant_payload(11))
    assert resp.choices[0].message.content == "A"
    (call,) = sample_calls(backend)
    assert (call.image_count, call.sampling.max_tokens) == (10, 5000)
    assert err.value.code == "too_many_frames"


def test_payload_shape_matches_lmms_eval() -> None:
    """Guards the replay itself: text part first, PNG frames after, the o3 branch swap."""
    plain = lmms_eval_payload("open-video", frames=2)
    o3 = lmms_eval_payload(MODEL, frames=2)
    assert [p["type"] for p in plain["messages"][0]["content"]] == ["text", "image_url",
                                                                    "image_url"]
    assert set(plain) == {"messages", "model", "max_tokens", "temperature"}
    assert set(o3) == {"messages", "model", "reasoning_effort", "response_format",
                       "max_completion_tokens"}
