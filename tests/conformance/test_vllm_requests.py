"""Every request body the vLLM backend builds, through vLLM's own request code.

Hypothesis draws request options over ranges WIDER than the gateway accepts (n,
temperature, top_p, top_k, max_tokens, repetition_penalty, seed, frame count, fps,
min/max pixels, voting, frame encoding, stream). For each draw:

1. The gateway's own validation decides (the wire model `ReasonFields`, then
   `ReasonService.resolve`: settings limits, the image limit, the pixel floor).
2. A pass-through body with the raw values goes to vLLM (`vllm_probe`, vLLM 0.32's
   `ChatCompletionRequest` -> `get_max_tokens` -> `to_sampling_params`, and the
   `--limit-mm-per-prompt` image limit docker-compose.yml starts vLLM with). When vLLM
   refuses it, the gateway must have refused it first.
3. When the gateway accepts, the REAL bodies (the pipeline + `VLLMHTTPBackend` over an
   httpx MockTransport: the sampling request and every verifier request) go to vLLM,
   which must accept every one (a prompt longer than the context may be refused, and
   must then map to our `PromptTooLong`), ignore none of their fields, and derive the
   sampling parameters we meant.

`test_coverage` checks the counts (how many checked, 0 refused that we send). The same
for the OpenAI surface (`/v1/chat/completions` options: n, temperature, top_p, top_k,
max_tokens, max_completion_tokens, repetition_penalty, seed, image count, stream,
reasoning_effort): `test_chat_surface_refuses_first_and_sends_what_vllm_takes`.
"""

from __future__ import annotations

import asyncio
import base64
import io
import json
import math
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image
from pydantic import ValidationError

from service.api.reason.protocol import ReasonFields
from service.api.reason.service import ModelInfo, ReasonService
from service.errors import ApiError
from service.grounding.grammar import format_evidence, format_trace
from service.grounding.types import FrameSetMeta
from service.grounding.voting import VotingMode
from service.inference.backend import PromptTooLong
from service.inference.pipeline import Pipeline
from service.inference.types import PipelineOptions
from service.inference.vllm_http import VLLMHTTPBackend, map_error
from service.settings import Settings
from service.video.frameset import FrameSet
from service.video.policy import fit_size
from tests.conformance.conftest import Probe

pytestmark = pytest.mark.conformance

MODEL = "marinero4972/Open-o3-Video"
SETTINGS = Settings(env="dev")  # the defaults docker-compose.yml runs with
MAX_MODEL_LEN = 32768  # docker-compose.yml's --max-model-len default
TOKEN_PX = 28 * 28
COUNTS: Counter[str] = Counter()
TRACE = format_trace("I look. " + format_evidence("cup", [(10.0, 10.0, 40.0, 40.0)], 0.0), "A")
TINY_PNG = "data:image/png;base64," + base64.b64encode(
    (lambda b: (Image.new("RGB", (28, 28)).save(b, "PNG"), b.getvalue())[1])(io.BytesIO())
).decode()

COMMON = {
    "voting": st.sampled_from(["majority", "confidence", "single"]),
    "frame_format": st.sampled_from(["png", "jpeg"]),
    "stream": st.booleans(),
    "original": st.tuples(st.integers(32, 640), st.integers(32, 480)),
}
# within what the gateway documents as valid (most draws), and wider (the rest)
in_range = st.fixed_dictionaries({
    "n": st.integers(1, 16),
    "temperature": st.one_of(st.just(0.0), st.just(5e-6), st.floats(0.0, 2.0)),
    "top_p": st.one_of(st.just(1.0), st.floats(0.01, 1.0)),
    "top_k": st.integers(-1, 1000),
    "max_tokens": st.one_of(st.none(), st.integers(1, 32768)),
    "repetition_penalty": st.one_of(st.just(1.0), st.floats(0.01, 2.0)),
    "seed": st.one_of(st.none(), st.integers(0, 2**31 - 1)),
    "num_frames": st.one_of(st.none(), st.integers(1, 64)),
    "fps": st.one_of(st.none(), st.floats(0.1, 4.0)),
    "min_pixels": st.one_of(st.none(), st.integers(3136, 20_000)),
    "max_pixels": st.one_of(st.none(), st.integers(20_000, 400_000)),
    **COMMON,
})
wide = st.fixed_dictionaries({
    "n": st.integers(-1, 80),
    "temperature": st.floats(-0.5, 2.5),
    "top_p": st.floats(-0.1, 1.2),
    "top_k": st.integers(-3, 1200),
    "max_tokens": st.one_of(st.none(), st.integers(-1, 40000)),
    "repetition_penalty": st.floats(-0.5, 2.5),
    "seed": st.one_of(st.none(), st.integers(-5, 2**31 + 5)),
    "num_frames": st.one_of(st.none(), st.integers(0, 300)),
    "fps": st.one_of(st.none(), st.floats(0.1, 4.0)),
    "min_pixels": st.one_of(st.none(), st.integers(0, 20_000)),
    "max_pixels": st.one_of(st.none(), st.integers(1_000, 400_000)),
    **COMMON,
})
raw_options = st.one_of(in_range, wide)


def ours(raw: dict[str, Any]) -> tuple[ReasonFields, Any] | None:
    """The gateway's validation of these options; None when it refuses them."""
    frames = {k: raw[k] for k in ("num_frames", "fps", "min_pixels", "max_pixels")
              if raw[k] is not None}
    sampling = {k: raw[k] for k in ("temperature", "top_p", "top_k", "repetition_penalty",
                                    "seed", "max_tokens") if raw[k] is not None}
    try:
        fields = ReasonFields.model_validate({
            "question": "What?", "n": raw["n"], "voting": raw["voting"],
            "sampling": sampling, "frames": frames})
        service = object.__new__(ReasonService)  # resolve() reads only the settings
        service.settings = SETTINGS
        service.model = ModelInfo("Open-o3-Video", "r", random_tiny=False)  # no trained policy
        return fields, service.resolve(fields)
    except (ValidationError, ApiError):
        return None


def frame_count(raw: dict[str, Any], policy: Any) -> int:
    """How many frames the sampler may feed: the count, or up to the cap at a fixed fps
    (image_url frames on the chat surface: as many as were sent)."""
    if raw.get("count") is not None:
        return int(raw["count"])
    if policy.num_frames is not None:
        return int(min(policy.num_frames, policy.max_frames))
    return int(policy.max_frames)


def prompt_tokens(images: list[tuple[int, int]]) -> int:
    """Qwen2.5-VL: one token per 28x28 pixels of each image, + labels and text."""
    return sum(w * h // TOKEN_PX + 16 for w, h in images) + 512


def passthrough_body(raw: dict[str, Any]) -> dict[str, Any]:
    """What a gateway that forwarded the raw options unchecked would send vLLM."""
    frames = raw["num_frames"] if raw["num_frames"] is not None else 16
    content: list[dict[str, Any]] = [{"type": "text", "text": "Frame:"}]
    content += [{"type": "image_url", "image_url": {"url": TINY_PNG}}] * max(0, frames)
    body: dict[str, Any] = {"model": MODEL, "messages": [{"role": "user", "content": content}],
                            "n": raw["n"], "temperature": raw["temperature"],
                            "top_p": raw["top_p"], "top_k": raw["top_k"],
                            "repetition_penalty": raw["repetition_penalty"],
                            "seed": raw["seed"], "stream": False}
    if raw["max_tokens"] is not None:
        body["max_completion_tokens"] = raw["max_tokens"]
    return body


def real_bodies(resolved: Any, fields: ReasonFields, raw: dict[str, Any]) -> list[dict[str, Any]]:
    """The bodies the pipeline + VLLMHTTPBackend send for this request (MockTransport)."""
    bodies: list[dict[str, Any]] = []

    def handler(request: httpx.Request) -> httpx.Response:
        body = json.loads(request.content)
        bodies.append(body)
        choices = [{"index": i, "message": {"role": "assistant", "content": TRACE},
                    "finish_reason": "stop"} for i in range(body["n"])]
        return httpx.Response(200, json={"choices": choices, "usage": {
            "prompt_tokens": 10, "completion_tokens": 10, "total_tokens": 20}})

    policy = resolved.policy
    fed = fit_size(*raw["original"], policy.min_pixels, policy.max_pixels)
    count = frame_count(raw, policy)
    meta = FrameSetMeta(times=tuple(float(i) for i in range(count)), fed_size=fed,
                        orig_size=raw["original"], duration=float(count))
    frames = FrameSet([Image.new("RGB", fed, (i * 7 % 256, 90, 160)) for i in range(count)],
                      meta)
    opts = PipelineOptions(n=resolved.n, voting=VotingMode(fields.voting),
                           sampling=resolved.sampling)

    async def run() -> None:
        async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
            backend = VLLMHTTPBackend("http://vllm:8000", MODEL, client=client,
                                      frame_format=raw["frame_format"])
            await Pipeline(backend).run(frames, "What is on the table?", opts=opts)

    asyncio.run(run())
    return bodies


def image_sizes(body: dict[str, Any]) -> list[tuple[int, int]]:
    sizes = []
    for part in body["messages"][-1]["content"]:
        if isinstance(part, dict) and part.get("type") == "image_url":
            url = part["image_url"]["url"]
            with Image.open(io.BytesIO(base64.b64decode(url.split(",", 1)[1]))) as im:
                sizes.append(im.size)
    return sizes


def ask_chat(probe: Probe, body: dict[str, Any], tokens: int) -> dict[str, Any]:
    return probe.ask({"op": "chat", "body": body, "prompt_tokens": tokens,
                      "max_model_len": MAX_MODEL_LEN, "image_limit": SETTINGS.max_images})


def is_context_refusal(answer: dict[str, Any]) -> bool:
    return "context length" in answer.get("error", "")


def check_real_body(probe: Probe, body: dict[str, Any], want_n: int) -> None:
    tokens = prompt_tokens(image_sizes(body))
    answer = ask_chat(probe, body, tokens)
    if not answer["ok"]:
        assert is_context_refusal(answer), f"vLLM refused what we send: {answer['error']}"
        mapped = map_error(400, json.dumps({"error": {"message": answer["error"]}}), [], 1)
        assert isinstance(mapped, PromptTooLong), answer["error"]
        COUNTS["real_context_refused"] += 1
        return
    COUNTS["real_accepted"] += 1
    assert answer["ignored"] == [], f"vLLM ignores fields we send: {answer['ignored']}"
    got = answer["sampling"]
    assert got["n"] == want_n
    assert got["temperature"] == body["temperature"] and got["seed"] == body["seed"]
    assert got["repetition_penalty"] == body["repetition_penalty"]
    assert got["max_tokens"] == min(body["max_completion_tokens"], MAX_MODEL_LEN - tokens)
    if got["greedy"]:
        COUNTS["real_greedy"] += 1
        assert body["n"] == 1, "a greedy body with n > 1"
    else:
        assert (got["top_p"], got["top_k"]) == (body["top_p"], body["top_k"])


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(raw=raw_options)
def test_vllm_accepts_what_we_send_and_we_refuse_first(vllm_probe: Probe,
                                                       raw: dict[str, Any]) -> None:
    COUNTS["drawn"] += 1
    mine = ours(raw)
    naive = ask_chat(vllm_probe, passthrough_body(raw), 1024)
    if not naive["ok"] and "greedy sampling" in naive["error"] and mine is not None:
        COUNTS["greedy_n_collapsed"] += 1  # we never send it: one n=1 request instead
    elif not naive["ok"]:
        COUNTS["vllm_refuses_passthrough"] += 1
        assert mine is None, f"vLLM refuses {raw} ({naive['error']}); the gateway did not"
    if mine is None:
        COUNTS["gateway_refused"] += 1
        return
    fields, resolved = mine
    if resolved.sampling.greedy and resolved.n > 1:
        COUNTS["greedy_n_gt_1"] += 1
    bodies = real_bodies(resolved, fields, raw)
    greedy = resolved.sampling.greedy
    for i, body in enumerate(bodies):  # the sampling request first, then the verifier's
        COUNTS["real_bodies"] += 1
        assert body["stream"] is False  # the backend never streams, whatever the client asked
        check_real_body(vllm_probe, body, resolved.n if i == 0 and not greedy else 1)


def test_coverage(vllm_probe: Probe) -> None:
    """The draw above covered what it claims: printed, and floors asserted."""
    print("conformance counts:", dict(COUNTS))
    assert COUNTS["drawn"] >= 100
    assert COUNTS["real_accepted"] >= 50
    assert COUNTS["gateway_refused"] >= 20 and COUNTS["vllm_refuses_passthrough"] >= 10
    assert COUNTS["greedy_n_gt_1"] >= 3 and COUNTS["real_greedy"] >= 3
    assert COUNTS["greedy_n_collapsed"] >= 3


def test_every_prompt_too_long_form_maps_to_advice(vllm_probe: Probe) -> None:
    """The three (four) messages vLLM 0.32's length checks raise -> PromptTooLong with
    numbers: how many frames to drop."""
    answer = vllm_probe.ask({"op": "too_long", "prompt_tokens": 40_000,
                             "max_model_len": MAX_MODEL_LEN})
    frames = [Image.new("RGB", (448, 448))] * 64  # 256 tokens each
    for message in answer["messages"]:
        assert message, "a vLLM length check did not refuse"
        error = map_error(400, json.dumps({"error": {"message": message}}), frames, 1024)
        assert isinstance(error, PromptTooLong), message
        assert "the prompt needs" in str(error) and "drop at least" in str(error), str(error)
        COUNTS["too_long_forms"] += 1
    assert math.isclose(COUNTS["too_long_forms"], 4)


# ---- the OpenAI surface: /v1/chat/completions options -> the same vLLM bodies ----------

chat_options = st.fixed_dictionaries({
    "n": st.one_of(st.none(), st.integers(-1, 70)),
    "temperature": st.one_of(st.none(), st.just(0.0), st.floats(-0.5, 2.5)),
    "top_p": st.one_of(st.none(), st.floats(-0.1, 1.2)),
    "top_k": st.one_of(st.none(), st.integers(-3, 1200)),
    "max_tokens": st.one_of(st.none(), st.integers(-1, 40000)),
    "max_completion_tokens": st.one_of(st.none(), st.integers(-1, 40000)),
    "repetition_penalty": st.one_of(st.none(), st.floats(-0.5, 2.5)),
    "seed": st.one_of(st.none(), st.integers(-5, 2**31 + 5)),
    "images": st.integers(1, 70),
    "stream": st.booleans(),
    "reasoning_effort": st.sampled_from([None, "medium", "high"]),
})


def ours_chat(raw: dict[str, Any]) -> tuple[ReasonFields, Any] | None:
    """The OpenAI surface's validation and mapping (ChatCompletionRequest ->
    ChatService.fields -> ReasonService.resolve), plus its image-count check."""
    from service.api.openai.protocol import ChatCompletionRequest as OurRequest
    from service.api.openai.service import ChatService

    body = {k: v for k, v in raw.items() if k != "images" and v is not None}
    try:
        req = OurRequest.model_validate({"model": MODEL, "messages": [
            {"role": "user", "content": "What?"}], **body})
        if raw["images"] > SETTINGS.max_images:
            return None  # ChatService.complete: 400 too_many_frames
        fields = ChatService.fields(object.__new__(ChatService), req, "What?")
        service = object.__new__(ReasonService)
        service.settings = SETTINGS
        service.model = ModelInfo("Open-o3-Video", "r", random_tiny=False)  # no trained policy
        return fields, service.resolve(fields)
    except (ValidationError, ApiError):
        return None


@settings(max_examples=120, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(raw=chat_options)
def test_chat_surface_refuses_first_and_sends_what_vllm_takes(vllm_probe: Probe,
                                                              raw: dict[str, Any]) -> None:
    COUNTS["chat_drawn"] += 1
    mine = ours_chat(raw)
    content: list[dict[str, Any]] = [{"type": "text", "text": "What?"}]
    content += [{"type": "image_url", "image_url": {"url": TINY_PNG}}] * raw["images"]
    naive = {k: v for k, v in raw.items() if k not in ("images", "stream") and v is not None}
    answer = ask_chat(vllm_probe, {"model": MODEL, "messages": [
        {"role": "user", "content": content}], **naive}, 1024)
    if not answer["ok"] and not ("greedy sampling" in answer["error"] and mine is not None):
        COUNTS["chat_vllm_refuses"] += 1
        assert mine is None, f"vLLM refuses {raw} ({answer['error']}); the gateway did not"
    if mine is None:
        COUNTS["chat_gateway_refused"] += 1
        return
    fields, resolved = mine
    frames = dict(raw, count=raw["images"], original=(320, 240), frame_format="png")
    for i, body in enumerate(real_bodies(resolved, fields, frames)):
        COUNTS["chat_real_bodies"] += 1
        check_real_body(vllm_probe, body,
                        resolved.n if i == 0 and not resolved.sampling.greedy else 1)


def test_chat_coverage(vllm_probe: Probe) -> None:
    print("chat conformance counts:", {k: v for k, v in COUNTS.items() if "chat" in k})
    assert COUNTS["chat_drawn"] >= 100 and COUNTS["chat_real_bodies"] >= 20, dict(COUNTS)
    assert COUNTS["chat_gateway_refused"] >= 20 and COUNTS["chat_vllm_refuses"] >= 10
