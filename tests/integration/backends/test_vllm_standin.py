"""VLLMHTTPBackend against the CPU stand-in over real HTTP, in both stand-in modes:
scripted (ScriptedBackend replays completions) and local (the tiny checkpoint)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import Iterator

import httpx
import pytest

from service.grounding.prompt import build_prompt, build_scorer_prompt
from service.grounding.types import ImagePart, TextPart
from service.inference.backend import (
    Backend,
    BackendBadRequest,
    BackendTimeout,
    BackendUnavailable,
    PromptTooLong,
    SamplingParams,
    Usage,
)
from service.inference.doubles import ScriptedBackend, prompt_words
from service.inference.local_hf import LocalHFBackend
from service.inference.vllm_http import VLLMHTTPBackend
from tests.support.fixtures import make_frames
from tests.support.vllm_standin import StandinState, start_standin

FRAMES = make_frames(4)
PROMPT = build_prompt("What is moving?", [0.0, 1.0, 2.0, 3.0])
SCRIPT = ("<think>a</think><answer>A</answer>", "<think>b</think><answer>B</answer>")
SAMPLING = SamplingParams(temperature=0.8, top_p=0.95, top_k=40, max_tokens=50,
                          repetition_penalty=1.1, seed=5)


@pytest.fixture
def scripted() -> ScriptedBackend:
    return ScriptedBackend(completions=SCRIPT, scores=("2",), name="open-o3-video")


@pytest.fixture
def standin(scripted: ScriptedBackend) -> Iterator[tuple[str, StandinState]]:
    state = StandinState()
    with start_standin(scripted, state=state) as base_url:
        yield base_url, state


async def test_n_samples_in_one_request_with_explicit_fields(
    standin: tuple[str, StandinState], scripted: ScriptedBackend
) -> None:
    base_url, state = standin
    backend = VLLMHTTPBackend(base_url, "open-o3-video")
    result = await backend.sample(PROMPT, FRAMES, 8, SAMPLING)
    await backend.close()
    assert [c.text for c in result.completions] == [SCRIPT[i % 2] for i in range(8)]
    assert len(state.requests) == 1  # ONE request for all 8 samples
    body = state.requests[0]
    assert body["n"] == 8
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "max_completion_tokens",
                                 "repetition_penalty", "seed")} == {
        "temperature": 0.8, "top_p": 0.95, "top_k": 40, "max_completion_tokens": 50,
        "repetition_penalty": 1.1, "seed": 5}
    parts = body["messages"][1]["content"]
    images = [p["image_url"]["url"] for p in parts if p["type"] == "image_url"]
    assert len(images) == 4 and all(u.startswith("data:image/png;base64,") for u in images)
    # the backend behind the stand-in got our neutral prompt back, frame for frame
    call = scripted.calls[0]
    assert (call.n, call.image_count, call.sampling) == (8, 4, SAMPLING)
    assert call.prompt.system == PROMPT.system
    assert [type(p) for p in call.prompt.user] == [type(p) for p in PROMPT.user]
    assert [p.text for p in call.prompt.user if isinstance(p, TextPart)] == [
        p.text for p in PROMPT.user if isinstance(p, TextPart)]
    assert [p.index for p in call.prompt.user if isinstance(p, ImagePart)] == [0, 1, 2, 3]
    assert result.usage.completion_tokens > 0


async def test_score_is_greedy(standin: tuple[str, StandinState]) -> None:
    base_url, state = standin
    backend = VLLMHTTPBackend(base_url, "open-o3-video")
    assert (await backend.score(PROMPT, FRAMES)).text == SCRIPT[0]
    assert state.requests[-1]["temperature"] == 0.0 and state.requests[-1]["n"] == 1
    await backend.close()


async def test_score_reports_the_usage_the_server_sent(
    standin: tuple[str, StandinState],
) -> None:
    # the scorer prompt crosses HTTP; the double behind the stand-in counts its words
    # (prompt) and the one greedy reply's words; the backend must report exactly that
    base_url, state = standin
    backend = VLLMHTTPBackend(base_url, "open-o3-video")
    prompt = build_scorer_prompt("What is moving?", 2)
    result = await backend.score(prompt, FRAMES[:2])
    await backend.close()
    expected = Usage(prompt_words(prompt), len(SCRIPT[0].split()))
    assert expected.prompt_tokens > 0 and result.usage == expected
    sent = state.usages[-1]
    assert (sent["prompt_tokens"], sent["completion_tokens"], sent["total_tokens"]) == (
        expected.prompt_tokens, expected.completion_tokens, expected.total_tokens)


async def test_health_and_revision(standin: tuple[str, StandinState]) -> None:
    base_url, _ = standin
    good = VLLMHTTPBackend(base_url + "/v1", "open-o3-video")
    assert good.revision == "open-o3-video"  # before health: the model name
    health = await good.health()
    assert health.ok and good.revision == "standin:scripted"
    wrong = VLLMHTTPBackend(base_url, "other-model")
    health = await wrong.health()
    assert not health.ok and "not served" in health.detail
    with pytest.raises(BackendUnavailable, match="does not exist"):
        await wrong.sample(PROMPT, FRAMES, 1, SAMPLING)
    for b in (good, wrong):
        await b.close()


ERRORS = [
    # engine failure -> unavailable (503 at the gateway)
    (500, "engine crashed", BackendUnavailable),
    # vLLM's context error -> PromptTooLong with frames to drop
    (400, "This model's maximum context length is 400 tokens. However, you requested 600 "
          "tokens (550 in the messages, 50 in the completion).", PromptTooLong),
    # another validation error -> bad request
    (400, "repetition_penalty must be positive", BackendBadRequest),
]


@pytest.mark.parametrize(("status", "message", "kind"), ERRORS)
async def test_errors_over_http_are_mapped(
    standin: tuple[str, StandinState], status: int, message: str, kind: type[Exception]
) -> None:
    base_url, state = standin
    state.fail_next.append((status, message))
    backend = VLLMHTTPBackend(base_url, "open-o3-video")
    with pytest.raises(kind) as caught:
        await backend.sample(PROMPT, FRAMES, 2, SAMPLING)
    if kind is PromptTooLong:
        assert "of 4 frames" in str(caught.value)
    assert len(state.requests) == 1  # HTTP errors are never retried
    await backend.close()


async def test_api_key_is_sent(scripted: ScriptedBackend) -> None:
    with start_standin(scripted, api_key="sekret") as base_url:
        ok = VLLMHTTPBackend(base_url, "open-o3-video", api_key="sekret")
        bad = VLLMHTTPBackend(base_url, "open-o3-video", api_key="wrong")
        assert len((await ok.sample(PROMPT, FRAMES, 2, SAMPLING)).completions) == 2
        with pytest.raises(BackendUnavailable, match="api key"):
            await bad.sample(PROMPT, FRAMES, 2, SAMPLING)
        assert not (await bad.health()).ok
        for b in (ok, bad):
            await b.close()


async def test_cancelling_the_caller_closes_the_request() -> None:
    slow = ScriptedBackend(completions=SCRIPT, delay=30.0, name="open-o3-video")
    state = StandinState()
    with start_standin(slow, state=state) as base_url:
        backend = VLLMHTTPBackend(base_url, "open-o3-video")
        task = asyncio.create_task(backend.sample(PROMPT, FRAMES, 8, SAMPLING))
        while not state.requests:  # the request reached the server
            await asyncio.sleep(0.02)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert await asyncio.to_thread(state.wait_for, lambda s: s.disconnects == 1, 5.0)
        assert state.completed == 0
        await backend.close()


async def test_read_timeout_is_a_backend_timeout() -> None:
    slow = ScriptedBackend(completions=SCRIPT, delay=3.0, name="open-o3-video")
    state = StandinState()
    with start_standin(slow, state=state) as base_url:
        backend = VLLMHTTPBackend(base_url, "open-o3-video", read_timeout=0.3)
        with pytest.raises(BackendTimeout):
            await backend.sample(PROMPT, FRAMES, 1, SAMPLING)
        assert len(state.requests) == 1  # not retried
        await backend.close()


def _closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_connection_refused_is_unavailable_after_bounded_retries() -> None:
    backend = VLLMHTTPBackend(f"http://127.0.0.1:{_closed_port()}", "m",
                              connect_retries=2, retry_backoff=0.01)
    with pytest.raises(BackendUnavailable, match="after 3 attempts"):
        await backend.sample(PROMPT, FRAMES, 1, SAMPLING)
    assert not (await backend.health()).ok
    await backend.close()


# ---- local mode: the stand-in runs the tiny checkpoint --------------------------------


async def test_local_mode_round_trip(local_backend: LocalHFBackend) -> None:
    state = StandinState()
    with start_standin(local_backend, state=state) as base_url:
        remote = VLLMHTTPBackend(base_url, local_backend.model_id)
        assert isinstance(remote, Backend)
        before = local_backend.generate_calls
        result = await remote.sample(PROMPT, FRAMES, 3,
                                     SamplingParams(max_tokens=10, seed=4))
        assert len(result.completions) == 3 and local_backend.generate_calls == before + 1
        # the images survived JPEG + HTTP: the prompt has the same token count
        assert result.usage.prompt_tokens == local_backend.count_prompt_tokens(PROMPT, FRAMES)
        assert result.usage.completion_tokens >= 3
        scored = await remote.score(PROMPT, FRAMES)
        # the real model's token counts, carried through the response's usage
        assert scored.usage.prompt_tokens == result.usage.prompt_tokens
        assert 1 <= scored.usage.completion_tokens <= 8  # GREEDY's max_tokens
        await remote.close()


async def test_local_mode_context_limit_like_vllm(local_backend: LocalHFBackend) -> None:
    with start_standin(local_backend, max_model_len=500) as base_url:
        remote = VLLMHTTPBackend(base_url, local_backend.model_id)
        frames = make_frames(8)
        prompt = build_prompt("What is moving?", [float(i) for i in range(8)])
        with pytest.raises(PromptTooLong) as caught:
            await remote.sample(prompt, frames, 2, SamplingParams(max_tokens=50))
        assert "of 8 frames" in str(caught.value) and "max_pixels" in str(caught.value)
        await remote.close()


# ---- the stand-in is at least as strict as vLLM 0.32 (what tests/conformance found) ----

def _body(**extra: object) -> dict[str, object]:
    return {"model": "open-o3-video", "messages": [{"role": "user", "content": "hi"}],
            "max_completion_tokens": 8, **extra}


@pytest.mark.parametrize(("extra", "says"), [
    ({"n": 4, "temperature": 0.0}, "n must be 1 when using greedy sampling, got 4."),
    ({"top_p": 0.0}, "top_p must be in (0, 1]"),
    ({"temperature": 2.5}, "temperature must be in [0, 2]"),
    ({"top_k": -2}, "top_k must be 0 (disable), or at least 1"),
    ({"repetition_penalty": 0.0}, "repetition_penalty must be greater than zero"),
    ({"max_completion_tokens": 0}, "max_tokens must be at least 1"),
    ({"reasoning": "high"}, "unknown request fields ['reasoning']"),  # vLLM ignores it
    ({"n": "2"}, "n must be a int"),
])
def test_standin_refuses_what_vllm_refuses(standin: tuple[str, StandinState],
                                           extra: dict[str, object], says: str) -> None:
    base_url, _ = standin
    answer = httpx.post(f"{base_url}/v1/chat/completions", json=_body(**extra))
    assert answer.status_code == 400 and says in answer.json()["error"]["message"]


def test_standin_takes_what_vllm_takes(standin: tuple[str, StandinState]) -> None:
    """A temperature in (0, 0.01) is raised to 0.01 (not greedy: n > 1 allowed)."""
    base_url, _ = standin
    answer = httpx.post(f"{base_url}/v1/chat/completions",
                        json=_body(n=3, temperature=0.001, top_k=-1, seed=-1))
    assert answer.status_code == 200 and len(answer.json()["choices"]) == 3


async def test_standin_image_limit_like_vllm(scripted: ScriptedBackend) -> None:
    with start_standin(scripted, max_images=3) as base_url:
        backend = VLLMHTTPBackend(base_url, "open-o3-video")
        with pytest.raises(BackendBadRequest, match="At most 3 image"):
            await backend.sample(PROMPT, FRAMES, 2, SAMPLING)  # 4 frames
        await backend.close()


async def test_greedy_n_goes_as_one_n1_request(standin: tuple[str, StandinState]) -> None:
    """The backend itself never sends n > 1 greedy (the stand-in would refuse, as vLLM)."""
    base_url, state = standin
    backend = VLLMHTTPBackend(base_url, "open-o3-video")
    result = await backend.sample(PROMPT, FRAMES, 4, SamplingParams(temperature=0.0))
    await backend.close()
    assert state.requests[-1]["n"] == 1 and len(result.completions) == 4
    assert len({c.text for c in result.completions}) == 1


async def test_local_mode_clamps_max_tokens_to_the_room_left(
        local_backend: LocalHFBackend) -> None:
    """vLLM 0.32 no longer refuses prompt + max_tokens > max_model_len: it generates at
    most the room left (so the answer may end with finish_reason "length")."""
    used = local_backend.count_prompt_tokens(PROMPT, FRAMES)
    with start_standin(local_backend, max_model_len=used + 3) as base_url:
        remote = VLLMHTTPBackend(base_url, local_backend.model_id)
        result = await remote.sample(PROMPT, FRAMES, 1, SamplingParams(max_tokens=50, seed=1))
        await remote.close()
    assert result.usage.completion_tokens <= 3
