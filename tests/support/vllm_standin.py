"""A CPU stand-in for `vllm serve`: a real HTTP server speaking the subset of vLLM's
OpenAI chat API that `service.inference.vllm_http` uses. FOR TESTS ONLY.

Routes: `POST /v1/chat/completions` (`n`, text + `image_url` data-URL parts,
temperature/top_p/top_k/max_completion_tokens (or max_tokens)/repetition_penalty/seed,
`usage`, vLLM-style error bodies), `GET /v1/models`, `GET /health`.

It is backed by ANY `Backend`: the `LocalHFBackend` on the tiny checkpoint (a real
model, random text) or `ScriptedBackend` (replays given completions). It rebuilds our
neutral `Prompt` from the incoming messages, so the backend sees what vLLM would.

At least as strict as vLLM 0.32 (tests/conformance ran vLLM's own code to find out
what it refuses; the stand-in answers with the same words):
- `model`, the bearer key (when given);
- unknown body fields: REFUSED (vLLM ignores them silently, which would hide a field we
  send to no effect; `KNOWN_FIELDS` are all fields vLLM knows);
- sampling ranges and greedy `n`: `n > 1` with temperature 0 is refused ("n must be 1
  when using greedy sampling"); a temperature in (0, 0.01) is raised to 0.01;
- the image count: more than `max_images` (vLLM's `--limit-mm-per-prompt`, default 64
  as in docker-compose.yml) is refused ("At most 64 image(s) ...");
- the context length: with a backend that can count prompt tokens
  (`LocalHFBackend.count_prompt_tokens`), a prompt longer than `max_model_len` gets
  vLLM's 400 "maximum context length ... your prompt contains P input tokens"; one that
  fits gets `max_tokens` clamped to the room left, as vLLM 0.32 does (it no longer
  refuses prompt + max_tokens > max_model_len);
- aborts the generation when the client disconnects (and records it).

Use in tests (other areas too):

    from tests.support.vllm_standin import StandinState, start_standin

    state = StandinState()
    with start_standin(ScriptedBackend(["<think>..</think><answer>A</answer>"]),
                       state=state) as base_url:
        backend = VLLMHTTPBackend(base_url, "scripted-double")
        ...
    assert state.requests[0]["n"] == 8

Run as a process:

    python -m tests.support.vllm_standin --checkpoint DIR --port 8001
    python -m tests.support.vllm_standin --script script.json --port 8001

`script.json` is `{"completions": [...], "scores": [...], "model": "name"}` or a bare
list of completions.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import dataclasses
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from PIL import Image

from service.grounding.types import ImagePart, Prompt, PromptPart, TextPart
from service.inference.backend import (
    Backend,
    BackendError,
    PromptTooLong,
    SamplingParams,
    too_many_images,
)
from service.inference.doubles import ScriptedBackend
from service.inference.images import ImageDataError, from_data_url


@dataclass
class StandinState:
    """What the stand-in saw, and errors to answer with (for tests to inspect/script).

    - `requests`: every chat-completions JSON body, in arrival order (images included).
    - `disconnects`: how many requests the client abandoned before the answer.
    - `completed`: how many chat completions were answered 200.
    - `usages`: the `usage` object of every 200 answer, in answer order (what the
      backend behind reported: sampling and the verifier's scoring requests alike).
    - `fail_next`: `(status, message)` pairs answered (in vLLM's error shape) instead of
      the next requests, one each.
    """

    requests: list[dict[str, Any]] = field(default_factory=list)
    disconnects: int = 0
    completed: int = 0
    usages: list[dict[str, int]] = field(default_factory=list)
    fail_next: deque[tuple[int, str]] = field(default_factory=deque)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def wait_for(self, predicate: Any, timeout: float = 10.0) -> bool:
        """Poll `predicate(self)` until true or `timeout` seconds pass."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return True
            time.sleep(0.02)
        return bool(predicate(self))


class _Refusal(Exception):
    def __init__(self, status: int, message: str, err_type: str = "BadRequestError") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.err_type = err_type


def vllm_error(status: int, message: str, err_type: str = "BadRequestError") -> JSONResponse:
    """vLLM's error body (the nested OpenAI shape recent vLLM versions answer with)."""
    body = {"error": {"message": message, "type": err_type, "param": None, "code": status}}
    return JSONResponse(body, status_code=status)


def prompt_from_messages(messages: Any) -> tuple[Prompt, list[Image.Image]]:
    """OpenAI chat messages -> our neutral Prompt + the decoded images, in slot order."""
    if not isinstance(messages, list) or not messages:
        raise _Refusal(400, "messages must be a non-empty list")
    system: list[str] = []
    parts: list[PromptPart] = []
    images: list[Image.Image] = []
    for message in messages:
        if not isinstance(message, dict):
            raise _Refusal(400, "each message must be an object")
        role = message.get("role")
        if role == "system":
            system.extend(p.text for p in _parts(message.get("content"), images)
                          if isinstance(p, TextPart))
        elif role == "user":
            parts.extend(_parts(message.get("content"), images))
        else:
            raise _Refusal(400, f"unsupported message role {role!r} in this stand-in")
    return Prompt(system="".join(system), user=tuple(parts)), images


def _parts(content: Any, images: list[Image.Image]) -> list[PromptPart]:
    if isinstance(content, str):
        return [TextPart(content)]
    if not isinstance(content, list):
        raise _Refusal(400, "message content must be a string or a list of parts")
    out: list[PromptPart] = []
    for part in content:
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "text":
            out.append(TextPart(str(part.get("text", ""))))
        elif kind == "image_url":
            url = (part.get("image_url") or {}).get("url", "")
            try:
                images.append(from_data_url(url))
            except ImageDataError as exc:
                raise _Refusal(400, f"invalid image_url: {exc}") from exc
            out.append(ImagePart(len(images) - 1))
        else:
            raise _Refusal(400, f"unsupported content part type {kind!r}")
    return out


KNOWN_FIELDS = frozenset({
    "model", "messages", "n", "temperature", "top_p", "top_k", "max_tokens",
    "max_completion_tokens", "repetition_penalty", "seed", "stream", "stream_options",
})
"""Body fields the stand-in takes (all of them fields of vLLM's ChatCompletionRequest:
tests/conformance checks it). vLLM silently IGNORES a field it does not know; the
stand-in refuses it, so a field we send that would have no effect fails our tests."""
MAX_TEMP = 0.01  # vLLM raises a temperature in (0, 0.01) to this (`_MAX_TEMP`)


def _number(body: dict[str, Any], name: str, default: Any, kind: type) -> Any:
    value = body.get(name)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or (
            kind is int and not isinstance(value, int)):
        raise _Refusal(400, f"{name} must be a {kind.__name__}, got {value!r}")
    return kind(value)


def _check_ranges(n: int, sp: SamplingParams) -> None:
    """vLLM 0.32's SamplingParams._verify_args / _verify_greedy_sampling, same words."""
    if n < 1:
        raise _Refusal(400, f"n must be at least 1, got {n}.")
    if not 0.0 <= sp.temperature <= 2.0:
        raise _Refusal(400, f"temperature must be in [0, 2], got {sp.temperature}.")
    if not 0.0 < sp.top_p <= 1.0:
        raise _Refusal(400, f"top_p must be in (0, 1], got {sp.top_p}.")
    if sp.top_k < -1:
        raise _Refusal(400, f"top_k must be 0 (disable), or at least 1, got {sp.top_k}.")
    if sp.repetition_penalty <= 0.0:
        raise _Refusal(400, "repetition_penalty must be greater than zero, got "
                            f"{sp.repetition_penalty}.")
    if sp.max_tokens < 1:
        raise _Refusal(400, f"max_tokens must be at least 1, got {sp.max_tokens}.")
    if sp.temperature == 0.0 and n > 1:
        raise _Refusal(400, f"n must be 1 when using greedy sampling, got {n}.")


def sampling_from_body(body: dict[str, Any], max_tokens_default: int = 16) -> SamplingParams:
    """vLLM's reading of the sampling fields (its defaults where a client leaves one out;
    `max_completion_tokens` before the deprecated `max_tokens`)."""
    unknown = sorted(set(body) - KNOWN_FIELDS)
    if unknown:
        raise _Refusal(400, f"unknown request fields {unknown}: vLLM would silently ignore "
                            "them (the stand-in refuses)")
    temperature = _number(body, "temperature", 1.0, float)
    if 0.0 < temperature < MAX_TEMP:
        temperature = MAX_TEMP
    mct = _number(body, "max_completion_tokens", None, int)
    seed = _number(body, "seed", None, int)
    sp = SamplingParams(
        temperature=temperature,
        top_p=_number(body, "top_p", 1.0, float),
        top_k=_number(body, "top_k", -1, int),
        max_tokens=mct if mct is not None else _number(body, "max_tokens", max_tokens_default,
                                                       int),
        repetition_penalty=_number(body, "repetition_penalty", 1.0, float),
        seed=None if seed == -1 else seed,
    )
    _check_ranges(_number(body, "n", 1, int), sp)
    return sp


def _context_check(
    backend: Backend, prompt: Prompt, images: list[Image.Image], max_tokens: int,
    max_model_len: int | None,
) -> int:
    """vLLM 0.32: a prompt longer than the context is refused (the renderer's words); one
    that fits gets `max_tokens` clamped to the room left (get_max_tokens). Returns it."""
    counter = getattr(backend, "count_prompt_tokens", None)
    limit = max_model_len or getattr(backend, "max_model_len", None)
    if counter is None or limit is None:
        return max_tokens
    used = int(counter(prompt, images))
    if used > limit:
        raise _Refusal(400, (
            f"This model's maximum context length is {limit} tokens. However, your prompt "
            f"contains {used} input tokens, which exceeds this limit even without any "
            "output tokens. Please reduce the length of the input prompt."))
    if used == limit:
        raise _Refusal(400, (
            f"The decoder prompt (length {used}) plus the number of requested output tokens "
            f"(at least 1) is longer than the maximum model length of {limit}. Make sure "
            "that `max_model_len` is no smaller than the number of text tokens (prompt + "
            "requested output tokens)."))
    return min(max_tokens, limit - used)


@dataclass
class _Server:
    backend: Backend
    state: StandinState
    model: str
    api_key: str | None
    max_model_len: int | None
    max_images: int = 64

    def check_auth(self, request: Request) -> None:
        if self.api_key and request.headers.get("authorization") != f"Bearer {self.api_key}":
            raise _Refusal(401, "Unauthorized", "AuthenticationError")

    async def chat(self, request: Request) -> JSONResponse:
        self.check_auth(request)
        try:
            body = await request.json()
        except ValueError as exc:
            raise _Refusal(400, f"request body is not JSON: {exc}") from exc
        with self.state.lock:
            self.state.requests.append(body)
            scripted = self.state.fail_next.popleft() if self.state.fail_next else None
        if scripted is not None:
            raise _Refusal(scripted[0], scripted[1], "ScriptedError")
        return await self._complete(request, body)

    async def _complete(self, request: Request, body: dict[str, Any]) -> JSONResponse:
        if body.get("model") != self.model:
            raise _Refusal(404, f"The model `{body.get('model')}` does not exist.",
                           "NotFoundError")
        sampling = sampling_from_body(body)
        n = int(body.get("n") or 1)
        prompt, images = prompt_from_messages(body.get("messages"))
        if len(images) > self.max_images:  # vLLM's validate_num_items, same words
            raise _Refusal(400, too_many_images(self.max_images))
        room = await asyncio.to_thread(
            _context_check, self.backend, prompt, images, sampling.max_tokens,
            self.max_model_len)
        sampling = dataclasses.replace(sampling, max_tokens=room)
        task = asyncio.ensure_future(self.backend.sample(prompt, images, n, sampling))
        if not await self._await_or_disconnect(request, task):
            return vllm_error(499, "client disconnected")
        return self._answer(task.result(), n)

    async def _await_or_disconnect(self, request: Request, task: asyncio.Future[Any]) -> bool:
        while not task.done():
            if await request.is_disconnected():
                task.cancel()
                with self.state.lock:
                    self.state.disconnects += 1
                return False
            await asyncio.wait({task}, timeout=0.05)
        return True

    def _answer(self, result: Any, n: int) -> JSONResponse:
        choices = [
            {"index": i, "message": {"role": "assistant", "content": c.text},
             "logprobs": None, "finish_reason": c.finish_reason, "stop_reason": None}
            for i, c in enumerate(result.completions)
        ]
        u = result.usage
        usage = {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
                 "total_tokens": u.total_tokens}
        with self.state.lock:
            self.state.completed += 1
            self.state.usages.append(usage)
        return JSONResponse({
            "id": f"chatcmpl-standin-{self.state.completed}", "object": "chat.completion",
            "created": int(time.time()), "model": self.model, "choices": choices[:n],
            "usage": usage,
        })

    def models(self) -> dict[str, Any]:
        entry = {"id": self.model, "object": "model", "created": 0, "owned_by": "vllm",
                 "root": f"standin:{self.backend.revision}", "parent": None,
                 "max_model_len": self.max_model_len
                 or getattr(self.backend, "max_model_len", None)}
        return {"object": "list", "data": [entry]}


def create_standin_app(
    backend: Backend,
    *,
    state: StandinState | None = None,
    model: str | None = None,
    api_key: str | None = None,
    max_model_len: int | None = None,
    max_images: int = 64,
) -> FastAPI:
    """The stand-in as an ASGI app (`start_standin` serves it over real HTTP)."""
    server = _Server(backend, state or StandinState(), model or backend.model_id, api_key,
                     max_model_len, max_images)
    app = FastAPI(title="vLLM stand-in (tests only)")

    @app.exception_handler(_Refusal)
    async def _refused(_: Request, exc: _Refusal) -> JSONResponse:
        return vllm_error(exc.status, exc.message, exc.err_type)

    @app.exception_handler(BackendError)
    async def _backend_failed(_: Request, exc: BackendError) -> JSONResponse:
        status = 400 if isinstance(exc, PromptTooLong) else exc.status
        return vllm_error(status, str(exc), type(exc).__name__)

    @app.post("/v1/chat/completions")
    async def chat(request: Request) -> JSONResponse:
        return await server.chat(request)

    @app.get("/v1/models")
    async def models(request: Request) -> dict[str, Any]:
        server.check_auth(request)
        return server.models()

    @app.get("/health")
    async def health() -> dict[str, str]:
        return {}

    return app


@contextlib.contextmanager
def start_standin(
    backend: Backend,
    *,
    state: StandinState | None = None,
    model: str | None = None,
    api_key: str | None = None,
    max_model_len: int | None = None,
    max_images: int = 64,
    host: str = "127.0.0.1",
) -> Iterator[str]:
    """Serve the stand-in on a free port in a background thread; yield its base URL.

    The URL is the server root (`http://127.0.0.1:PORT`), as `vllm serve` prints it;
    the model name defaults to `backend.model_id`. Stopped when the block exits.
    """
    app = create_standin_app(backend, state=state, model=model, api_key=api_key,
                             max_model_len=max_model_len, max_images=max_images)
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, 0))
    config = uvicorn.Config(app, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    try:
        _wait_started(server, thread)
        yield f"http://{host}:{sock.getsockname()[1]}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)
        sock.close()


def _wait_started(server: uvicorn.Server, thread: threading.Thread) -> None:
    deadline = time.monotonic() + 15
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the vLLM stand-in did not start")
        time.sleep(0.01)


def _backend_from_args(args: argparse.Namespace) -> Backend:
    if args.checkpoint:
        from service.inference.local_hf import LocalHFBackend

        return LocalHFBackend(args.checkpoint)
    script = json.loads(Path(args.script).read_text(encoding="utf-8"))
    if isinstance(script, list):
        script = {"completions": script}
    return ScriptedBackend(
        completions=tuple(script.get("completions") or ("",)),
        scores=tuple(script.get("scores") or ("2",)),
        name=str(script.get("model", "scripted-double")),
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.support.vllm_standin",
                                     description="CPU stand-in for vllm serve (tests only)")
    source = parser.add_mutually_exclusive_group(required=True)
    source.add_argument("--checkpoint", help="tiny (or any) Qwen2.5-VL checkpoint directory")
    source.add_argument("--script", help="JSON file of scripted completions")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8001)
    parser.add_argument("--model", help="served model name (default: the backend's model_id)")
    parser.add_argument("--api-key", help="require this bearer key, like vllm --api-key")
    parser.add_argument("--max-model-len", type=int, help="context length to enforce")
    parser.add_argument("--max-images", type=int, default=64,
                        help="images per prompt, like vllm --limit-mm-per-prompt")
    args = parser.parse_args(argv)
    app = create_standin_app(_backend_from_args(args), model=args.model, api_key=args.api_key,
                             max_model_len=args.max_model_len, max_images=args.max_images)
    uvicorn.run(app, host=args.host, port=args.port, log_level="info")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
