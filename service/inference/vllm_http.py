"""The vLLM backend: a `vllm serve` server reached over its OpenAI chat API (httpx).

Owns the request we send and the mapping of what comes back:
- ONE `POST /v1/chat/completions` per `sample` call with `n=N`, so vLLM prefills the
  prompt and its images once and shares it (prefix caching). Frames travel as PNG
  (lossless, the default: what the model was trained on) or JPEG `data:` URLs
  (`frame_format`, `jpeg_quality`; bench/frame_encoding.py measured the choice) in
  `image_url` parts interleaved with their labels in ONE user message
  (`service.grounding.prompt.to_openai_messages`); encoding runs off the loop.
- temperature, top_p, top_k, max_completion_tokens (vLLM deprecates `max_tokens`),
  repetition_penalty and seed are in EVERY request body (the checkpoint's
  generation_config may be near-greedy: SPEC 4.1, 7). Every field is one vLLM's
  `ChatCompletionRequest` knows (tests/conformance checks it with vLLM's own code).
- `n > 1` is never sent with a greedy temperature (vLLM refuses it): `sample` answers
  such a call with one n=1 request repeated n times (the pipeline never makes one).
- `revision`: the configured one (O3_MODEL_REVISION), else vLLM's model `root` once
  `health()` ran, else the model name.
- Refused here first, before any frame is encoded: once `health()` read the served
  model's `max_model_len` from /v1/models, a prompt whose VISION tokens alone (one per
  28x28 pixels of each frame: exact for Qwen2.5-VL) exceed it -> PromptTooLong with the
  same advice vLLM's refusal would get. Never refuses what vLLM accepts (the text only
  adds tokens).

Failure model (what the caller sees, all `BackendError` subclasses):

    connect refused / connect timeout -> retried (nothing was sent), then BackendUnavailable
    read / write / pool timeout       -> BackendTimeout            (never retried)
    connection dropped mid-request    -> BackendUnavailable        (never retried)
    400 context-length messages       -> PromptTooLong, with how many frames/pixels to drop
      (every form vLLM 0.32 words it in: "maximum context length is L tokens. However,
      your prompt contains P input tokens / C characters", "Input length (P) exceeds
      model's maximum context length (L)", "The decoder prompt (length P) is longer
      than the maximum model length of L")
    other 400 / 422                   -> BackendBadRequest
    401 / 403 / 404 / 5xx             -> BackendUnavailable
    408 / 504                         -> BackendTimeout
    a 200 that is not a valid answer  -> BackendError (502)

Cancellation: when the calling task is cancelled, the in-flight httpx request is
abandoned and its connection closed, which is how vLLM learns to abort the generation.
"""

from __future__ import annotations

import asyncio
import json
import re
from collections.abc import Sequence
from typing import Any

import httpx
from PIL import Image

from service.grounding.prompt import to_openai_messages
from service.grounding.types import Prompt
from service.inference.backend import (
    GREEDY,
    BackendBadRequest,
    BackendError,
    BackendHealth,
    BackendTimeout,
    BackendUnavailable,
    Completion,
    PromptTooLong,
    SampleResult,
    SamplingParams,
    ScoreResult,
    Usage,
)
from service.inference.checkpoint import PIXELS_PER_TOKEN, too_long_advice
from service.inference.images import to_data_url

_TOO_LONG = re.compile(
    r"maximum context length|prompt is too long|is too long to fit|"
    r"longer than the maximum model length|too long and exceeds", re.I)
_CONTEXT = re.compile(
    r"(?:maximum context length is|context length|maximum model length(?: of| is)?|"
    r"exceeds limit of)\s*\(?(\d+)", re.I)
_PROMPT = re.compile(
    r"(\d+) (?:tokens )?in the messages|total length (\d+)|prompt \((\d+) tokens\)|"
    r"(?:has|with) (\d+) input tokens|prompt \(length (\d+)\)|"
    r"contains (?:at least )?(\d+) input tokens|input length \((\d+)\)", re.I)
_COMPLETION = re.compile(r"(\d+) in the completion", re.I)


class VLLMHTTPBackend:
    """Backend protocol over a `vllm serve` OpenAI-compatible server."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        connect_timeout: float = 5,
        read_timeout: float = 600,
        frame_format: str = "png",
        jpeg_quality: int = 95,
        revision: str | None = None,
        client: httpx.AsyncClient | None = None,
        connect_retries: int = 2,
        retry_backoff: float = 0.25,
    ) -> None:
        self._base = _api_root(base_url)
        self._model = model
        self._format = frame_format.upper()
        self._quality = jpeg_quality
        self._retries = max(0, connect_retries)
        self._backoff = retry_backoff
        self._configured_revision = revision or None
        self._revision: str | None = None
        self._max_model_len: int | None = None
        self._headers = {"Authorization": f"Bearer {api_key}"} if api_key else {}
        timeout = httpx.Timeout(read_timeout, connect=connect_timeout)
        self._client = client or httpx.AsyncClient(timeout=timeout)
        self._owns_client = client is None

    @property
    def model_id(self) -> str:
        return self._model

    @property
    def revision(self) -> str:
        """The configured revision, else the served model's `root` from /v1/models once
        `health()` ran, else its name."""
        return self._configured_revision or self._revision or self._model

    async def sample(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        n: int,
        sampling: SamplingParams,
    ) -> SampleResult:
        if n < 1:
            raise BackendBadRequest(f"n must be >= 1, got {n}")
        calls = 1 if sampling.greedy else n
        self._check_vision_tokens(images, sampling.max_tokens)
        urls = await asyncio.to_thread(_encode_all, list(images), self._format, self._quality)
        try:
            body = request_body(self._model, prompt, urls, calls, sampling)
        except ValueError as exc:  # image slots and images disagree
            raise BackendBadRequest(str(exc)) from exc
        response = await self._post("/v1/chat/completions", body)
        if response.status_code != 200:
            raise map_error(response.status_code, response.text, images, sampling.max_tokens)
        result = parse_completions(_json(response), calls)
        if calls == n:
            return result
        return SampleResult(result.completions * n, result.usage)

    async def score(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        *,
        sampling: SamplingParams | None = None,
    ) -> ScoreResult:
        """One chat completion (n=1), greedy unless `sampling` says otherwise; its
        usage is the response's `usage`."""
        result = await self.sample(prompt, images, 1, sampling or GREEDY)
        return ScoreResult(result.completions[0].text, result.usage)

    async def health(self) -> BackendHealth:
        """GET /health and GET /v1/models: up, and serving the model we ask for."""
        try:
            alive = await self._client.get(f"{self._base}/health", headers=self._headers)
            if alive.status_code != 200:
                return BackendHealth(False, self._model, f"/health answered {alive.status_code}")
            models = await self._client.get(f"{self._base}/v1/models", headers=self._headers)
        except httpx.HTTPError as exc:
            return BackendHealth(False, self._model, f"{self._base} unreachable: {exc!r}")
        return self._check_models(models)

    async def close(self) -> None:
        if self._owns_client:
            await self._client.aclose()

    def _check_models(self, models: httpx.Response) -> BackendHealth:
        if models.status_code != 200:
            return BackendHealth(False, self._model, f"/v1/models answered {models.status_code}")
        try:
            served = {m["id"]: m for m in models.json().get("data", [])}
        except (ValueError, KeyError, TypeError, AttributeError):
            return BackendHealth(False, self._model, "/v1/models answered malformed JSON")
        if self._model not in served:
            return BackendHealth(False, self._model, f"model not served; serving {sorted(served)}")
        root = served[self._model].get("root")
        self._revision = str(root) if root else self._model
        length = served[self._model].get("max_model_len")
        self._max_model_len = length if isinstance(length, int) and length > 0 else None
        return BackendHealth(True, self._model, f"vLLM at {self._base}")

    def _check_vision_tokens(self, images: Sequence[Image.Image], max_tokens: int) -> None:
        if not self._max_model_len or not images:
            return
        vision = sum(vision_tokens(im) for im in images)
        if vision > self._max_model_len:
            room = max(1, self._max_model_len - max_tokens)
            raise PromptTooLong(too_long_advice(vision, room, len(images),
                                                vision / len(images)))

    async def _post(self, path: str, body: dict[str, Any]) -> httpx.Response:
        """POST, retrying only failures that happened before anything was sent."""
        url = f"{self._base}{path}"
        for attempt in range(self._retries + 1):
            try:
                return await self._client.post(url, json=body, headers=self._headers)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                if attempt == self._retries:
                    raise BackendUnavailable(
                        f"cannot connect to vLLM at {self._base} after {attempt + 1} "
                        f"attempts: {exc!r}") from exc
                await asyncio.sleep(self._backoff * 2**attempt)
            except httpx.TimeoutException as exc:
                raise BackendTimeout(f"vLLM at {self._base} did not answer in time: "
                                     f"{exc!r}") from exc
            except httpx.TransportError as exc:
                raise BackendUnavailable(f"connection to vLLM at {self._base} failed "
                                         f"mid-request: {exc!r}") from exc
        raise AssertionError("unreachable")  # the loop returns or raises


def vision_tokens(image: Image.Image) -> int:
    """Qwen2.5-VL's vision tokens for one frame (sides are multiples of 28 once resized)."""
    return (image.width // 28) * (image.height // 28)


def _api_root(base_url: str) -> str:
    """Accept `http://host:8000` or `http://host:8000/v1`; keep the server root."""
    root = base_url.rstrip("/")
    return root[: -len("/v1")] if root.endswith("/v1") else root


def _encode_all(images: list[Image.Image], fmt: str, quality: int) -> list[str]:
    return [to_data_url(im, fmt=fmt, quality=quality) for im in images]


def request_body(
    model: str, prompt: Prompt, image_urls: Sequence[str], n: int, sampling: SamplingParams
) -> dict[str, Any]:
    """The chat-completions body: one request, n samples, every sampling field explicit."""
    return {
        "model": model,
        "messages": to_openai_messages(prompt, image_urls),
        "n": n,
        "temperature": sampling.temperature,
        "top_p": sampling.top_p,
        "top_k": sampling.top_k,
        "max_completion_tokens": sampling.max_tokens,
        "repetition_penalty": sampling.repetition_penalty,
        "seed": sampling.seed,
        "stream": False,
    }


def _json(response: httpx.Response) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise BackendError(f"vLLM answered 200 with a body that is not JSON: {exc}") from exc


def parse_completions(data: Any, n: int) -> SampleResult:
    """A chat-completions response -> exactly `n` completions in choice order."""
    try:
        choices = sorted(data["choices"], key=lambda c: int(c.get("index", 0)))
        texts = [(c["message"].get("content") or "", c.get("finish_reason") or "stop")
                 for c in choices]
        usage = data.get("usage") or {}
        total = Usage(int(usage.get("prompt_tokens", 0)), int(usage.get("completion_tokens", 0)))
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise BackendError(f"vLLM answered a malformed chat completion: {exc!r}") from exc
    if len(texts) != n:
        raise BackendError(f"vLLM returned {len(texts)} choices for n={n}")
    # vLLM reports completion tokens per request only; per choice they are known for n=1
    per_choice = total.completion_tokens if n == 1 else 0
    return SampleResult(tuple(Completion(t, r, per_choice) for t, r in texts), total)


def error_message(text: str) -> str:
    """The human message of a vLLM error body (both the flat and the nested shape)."""
    try:
        body = json.loads(text)
    except ValueError:
        return text.strip()[:500]
    if isinstance(body, dict):
        inner = body.get("error", body)
        if isinstance(inner, dict) and isinstance(inner.get("message"), str):
            return str(inner["message"])
        if isinstance(inner, str):
            return inner
    return text.strip()[:500]


def map_error(
    status: int, text: str, images: Sequence[Image.Image], max_tokens: int
) -> BackendError:
    """vLLM's error response -> our BackendError (see the table in the module docstring)."""
    message = error_message(text)
    if status in (400, 413, 422) and _TOO_LONG.search(message):
        return PromptTooLong(_too_long(message, images, max_tokens))
    if status in (400, 422):
        return BackendBadRequest(f"vLLM refused the request: {message}")
    if status in (408, 504):
        return BackendTimeout(f"vLLM timed out ({status}): {message}")
    if status in (401, 403):
        return BackendUnavailable(f"vLLM refused our credentials ({status}); check the api key")
    if status == 404 or status >= 500:
        return BackendUnavailable(f"vLLM answered {status}: {message}")
    return BackendError(f"vLLM answered {status}: {message}")


def _first_int(pattern: re.Pattern[str], text: str) -> int | None:
    match = pattern.search(text)
    if match is None:
        return None
    return int(next(g for g in match.groups() if g is not None))


def _too_long(message: str, images: Sequence[Image.Image], max_tokens: int) -> str:
    """Advice on frames/pixels to drop, from the numbers in vLLM's message when present."""
    limit = _first_int(_CONTEXT, message)
    prompt_tokens = _first_int(_PROMPT, message)
    if limit is None or prompt_tokens is None:
        return f"prompt too long for the model ({message}); send fewer frames or fewer pixels"
    completion = _first_int(_COMPLETION, message)
    room = limit - (completion if completion is not None else max_tokens)
    per_image = (
        sum(im.width * im.height for im in images) / PIXELS_PER_TOKEN / len(images)
        if images else 0.0
    )
    return too_long_advice(prompt_tokens, room, len(images), per_image)
