"""vllm_http.py without a server: request body, response parsing, error mapping, and
which transport failures are retried (httpx.MockTransport counts the attempts)."""

from __future__ import annotations

import json

import httpx
import pytest
from PIL import Image

from service.grounding.prompt import build_prompt
from service.inference.backend import (
    BackendBadRequest,
    BackendError,
    BackendTimeout,
    BackendUnavailable,
    PromptTooLong,
    SamplingParams,
)
from service.inference.vllm_http import (
    VLLMHTTPBackend,
    error_message,
    map_error,
    parse_completions,
    request_body,
)

FRAMES = [Image.new("RGB", (420, 224), (i * 40, 0, 0)) for i in range(4)]  # 120 tokens each
PROMPT = build_prompt("What moves?", [0.0, 1.0, 2.0, 3.0])


def test_request_body_sends_every_sampling_field_and_n() -> None:
    sampling = SamplingParams(temperature=0.7, top_p=0.9, top_k=20, max_tokens=77,
                              repetition_penalty=1.05, seed=None)
    body = request_body("m", PROMPT, ["data:a", "data:b", "data:c", "data:d"], 8, sampling)
    assert body["n"] == 8 and body["model"] == "m"
    assert {k: body[k] for k in ("temperature", "top_p", "top_k", "max_completion_tokens",
                                 "repetition_penalty")} == {
        "temperature": 0.7, "top_p": 0.9, "top_k": 20, "max_completion_tokens": 77,
        "repetition_penalty": 1.05}
    assert "max_tokens" not in body  # deprecated in vLLM in favour of max_completion_tokens
    assert "seed" in body and body["seed"] is None  # explicit even when unset
    user = body["messages"][1]["content"]
    urls = [p["image_url"]["url"] for p in user if p["type"] == "image_url"]
    assert urls == ["data:a", "data:b", "data:c", "data:d"]  # ONE user message, in order
    assert [m["role"] for m in body["messages"]] == ["system", "user"]


def test_parse_completions_orders_by_index_and_counts() -> None:
    data = {"choices": [
        {"index": 1, "message": {"content": "b"}, "finish_reason": "length"},
        {"index": 0, "message": {"content": "a"}, "finish_reason": "stop"},
    ], "usage": {"prompt_tokens": 10, "completion_tokens": 7}}
    result = parse_completions(data, 2)
    assert [(c.text, c.finish_reason) for c in result.completions] == [
        ("a", "stop"), ("b", "length")]
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (10, 7)


MALFORMED = [
    # fewer choices than asked for
    ({"choices": [{"index": 0, "message": {"content": "a"}}]}, 2),
    # no choices key
    ({"object": "chat.completion"}, 1),
    # message is not an object
    ({"choices": [{"index": 0, "message": "a"}]}, 1),
]


@pytest.mark.parametrize(("data", "n"), MALFORMED)
def test_malformed_answers_are_backend_errors(data: object, n: int) -> None:
    with pytest.raises(BackendError):
        parse_completions(data, n)


def test_null_content_is_empty_text() -> None:
    data = {"choices": [{"index": 0, "message": {"content": None}, "finish_reason": None}]}
    assert parse_completions(data, 1).completions[0].text == ""


def _nested(message: str) -> str:
    return json.dumps({"error": {"message": message, "type": "BadRequestError", "code": 400}})


def _flat(message: str) -> str:
    return json.dumps({"object": "error", "message": message, "type": "BadRequestError",
                       "code": 400})


OLD_VLLM = ("This model's maximum context length is 2000 tokens. However, you requested "
            "2100 tokens (1900 in the messages, 200 in the completion). Please reduce the "
            "length of the messages or completion.")
NEW_VLLM = ("The prompt (total length 2300) is too long to fit into the model (context "
            "length 2000). Make sure that `max_model_len` is no smaller than the number of "
            "text tokens plus multimodal tokens.")

MAPPING = [
    # vLLM <= 0.9 wording, flat body: the numbers give the advice (1900 vs room
    # 2000-200=1800 -> 100 over; 120 tokens per 420x224 frame -> 1 frame)
    (400, _flat(OLD_VLLM), PromptTooLong, ["drop at least 1 of 4 frames", "1900"]),
    # recent vLLM wording, nested body: 2300 vs room 2000-64 -> 364 over -> 4 frames
    (400, _nested(NEW_VLLM), PromptTooLong, ["drop at least 4 of 4 frames"]),
    # a too-long message without numbers still maps, with generic advice
    (400, _nested("prompt is too long"), PromptTooLong, ["fewer frames"]),
    # any other 400 is a bad request, with vLLM's message kept
    (400, _nested("top_k must be -1 or at least 1"), BackendBadRequest, ["top_k must be"]),
    # pydantic validation errors from vLLM are 422 (or 400): bad request too
    (422, _nested("n: Input should be a valid integer"), BackendBadRequest, ["valid integer"]),
    # the model is not served under this name
    (404, _nested("The model `x` does not exist."), BackendUnavailable, ["does not exist"]),
    # wrong api key: our configuration problem, the engine is unusable
    (401, '{"error": "Unauthorized"}', BackendUnavailable, ["api key"]),
    # engine crashed / overloaded
    (500, "Internal Server Error", BackendUnavailable, ["500"]),
    (503, _nested("engine dead"), BackendUnavailable, ["engine dead"]),
    # a proxy in front of vLLM timed out
    (504, "Gateway Timeout", BackendTimeout, ["504"]),
    # something unexpected: a generic backend error (502)
    (418, "teapot", BackendError, ["418"]),
]


@pytest.mark.parametrize(("status", "body", "kind", "phrases"), MAPPING)
def test_error_mapping(status: int, body: str, kind: type[BackendError],
                       phrases: list[str]) -> None:
    error = map_error(status, body, FRAMES, 64)
    assert type(error) is kind
    for phrase in phrases:
        assert phrase in str(error)


def test_error_message_shapes() -> None:
    assert error_message(_nested("a")) == "a"
    assert error_message(_flat("b")) == "b"
    assert error_message('{"error": "Unauthorized"}') == "Unauthorized"
    assert error_message("plain text\n") == "plain text"


class _Counting:
    """A transport handler that fails with `exc` a number of times, then answers 200."""

    def __init__(self, exc: type[Exception] | None, failures: int) -> None:
        self.exc, self.failures, self.calls = exc, failures, 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.calls += 1
        if self.exc is not None and self.calls <= self.failures:
            raise self.exc("scripted failure")
        n = json.loads(request.content)["n"]
        choices = [{"index": i, "message": {"content": f"c{i}"}, "finish_reason": "stop"}
                   for i in range(n)]
        return httpx.Response(200, json={"choices": choices, "usage": {}})


def _backend(handler: _Counting, retries: int = 2) -> VLLMHTTPBackend:
    client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return VLLMHTTPBackend("http://vllm:8000/v1", "m", client=client,
                           connect_retries=retries, retry_backoff=0.001)


RETRIES = [
    # connection refused twice, then up: retried, succeeds on attempt 3
    (httpx.ConnectError, 2, 3, None),
    # refused every time: 1 + 2 retries, then unavailable
    (httpx.ConnectError, 9, 3, BackendUnavailable),
    # connect timeout: nothing was sent either, so retried too
    (httpx.ConnectTimeout, 9, 3, BackendUnavailable),
    # read timeout: the request was sent, vLLM may be generating -> never retried
    (httpx.ReadTimeout, 9, 1, BackendTimeout),
    # connection dropped mid-request: may have been processed -> never retried
    (httpx.RemoteProtocolError, 9, 1, BackendUnavailable),
    # write error while sending the body: not provably unsent -> never retried
    (httpx.WriteError, 9, 1, BackendUnavailable),
]


@pytest.mark.parametrize(("exc", "failures", "calls", "raised"), RETRIES)
async def test_only_connect_failures_are_retried(
    exc: type[Exception], failures: int, calls: int, raised: type[Exception] | None
) -> None:
    handler = _Counting(exc, failures)
    backend = _backend(handler)
    if raised is None:
        result = await backend.sample(PROMPT, FRAMES, 3, SamplingParams())
        assert [c.text for c in result.completions] == ["c0", "c1", "c2"]
    else:
        with pytest.raises(raised):
            await backend.sample(PROMPT, FRAMES, 3, SamplingParams())
    assert handler.calls == calls


async def test_base_url_with_or_without_v1_hits_the_same_route() -> None:
    seen: list[str] = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(200, json={"choices": [
            {"index": 0, "message": {"content": "x"}}], "usage": {}})

    for base in ("http://h:1", "http://h:1/", "http://h:1/v1", "http://h:1/v1/"):
        client = httpx.AsyncClient(transport=httpx.MockTransport(handler))
        await VLLMHTTPBackend(base, "m", client=client).score(PROMPT, FRAMES)
    assert set(seen) == {"http://h:1/v1/chat/completions"}


async def test_image_count_mismatch_is_a_bad_request_before_sending() -> None:
    handler = _Counting(None, 0)
    with pytest.raises(BackendBadRequest, match="image"):
        await _backend(handler).sample(PROMPT, FRAMES[:2], 1, SamplingParams())
    assert handler.calls == 0


# vLLM 0.32's own wordings (tests/conformance raises them with vLLM's code; copied here
# so the parsing is also checked where the tier cannot run)
VLLM_032_TOO_LONG = [
    "This model's maximum context length is 2000 tokens. However, your prompt contains "
    "2400 input tokens, which exceeds this limit even without any output tokens. Please "
    "reduce the length of the input prompt. (parameter=input_tokens, value=2400)",
    "Input length (2400) exceeds model's maximum context length (2000).",
    "The decoder prompt (length 2400) is longer than the maximum model length of 2000. "
    "Make sure that `max_model_len` is no smaller than the number of text tokens plus "
    "multimodal tokens.",
]


@pytest.mark.parametrize("message", VLLM_032_TOO_LONG)
def test_vllm_032_context_messages_give_frame_advice(message: str) -> None:
    frames = [Image.new("RGB", (280, 280))] * 4  # 100 tokens each
    error = map_error(400, _nested(message), frames, 100)
    assert isinstance(error, PromptTooLong)
    assert "needs 2400 tokens but the model allows 1900" in str(error)
    assert "drop at least 4 of 4 frames" in str(error)


def test_configured_revision_wins() -> None:
    backend = VLLMHTTPBackend("http://vllm:8000", "m", revision="sha-abc123")
    assert backend.revision == "sha-abc123"
    assert VLLMHTTPBackend("http://vllm:8000", "m").revision == "m"  # before health()


async def test_vision_tokens_over_the_context_are_refused_before_sending() -> None:
    """Once /v1/models said max_model_len, a prompt whose frames alone exceed it is a
    PromptTooLong before any frame is encoded or sent (vLLM would refuse it anyway)."""
    posted: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        if request.url.path == "/health":
            return httpx.Response(200, json={})
        if request.url.path == "/v1/models":
            return httpx.Response(200, json={"data": [
                {"id": "m", "root": "/models/m", "max_model_len": 1000}]})
        posted.append(request)
        return httpx.Response(200, json={"choices": [
            {"index": 0, "message": {"content": "x"}, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": 1, "completion_tokens": 1}})

    async with httpx.AsyncClient(transport=httpx.MockTransport(handler)) as client:
        backend = VLLMHTTPBackend("http://vllm:8000", "m", client=client)
        assert (await backend.health()).ok
        await backend.sample(PROMPT, FRAMES, 1, SamplingParams(max_tokens=100))  # 480 fit
        big = [Image.new("RGB", (448, 448))] * 4  # 256 vision tokens each: 1024 > 1000
        with pytest.raises(PromptTooLong, match="drop at least 1 of 4 frames"):
            await backend.sample(PROMPT, big, 1, SamplingParams(max_tokens=100))
    assert len(posted) == 1
