"""Request bodies: every one size-checked before it is read, and a bound on the bytes
held in memory for parsing across all requests at once.

Owns `BodyLimitMiddleware` (raw ASGI), `body_cap`, `BodyBudget` and `buffered_body`.

Invariants:
- Every HTTP request gets a cap from its route and content type (`body_cap`): uploads
  (`POST /v1/videos`, multipart `POST /v1/reason`) O3_MAX_UPLOAD_BYTES plus
  `FORM_OVERHEAD` for the form's headers and fields; JSON `POST /v1/reason` 1 MiB;
  `POST /v1/chat/completions` O3_MAX_CHAT_BODY_BYTES; any other request
  `SMALL_BODY` (its body is never used).
- A declared `Content-Length` over the cap is answered 413 before a byte of the body
  is read; a malformed one is 400. The connection is NOT closed after it: the server
  reads and discards whatever the client still sends (nothing is buffered), because a
  close while the client is still writing makes many clients lose the answer (40
  concurrent httpx clients: 17 saw a reset instead of the 413). A client that reads
  while it sends (curl, `Expect: 100-continue`) stops at once.
- Without a declared length (chunked), bytes are counted as they arrive and the first
  chunk over the cap raises 413. Nothing downstream can read past the cap.
- Bodies parsed in memory (JSON) are read by `buffered_body`, which first reserves
  their size in the process-wide `BodyBudget` (the declared length at once, else chunk
  by chunk). When the budget (O3_MAX_BUFFERED_BODY_BYTES) is full the request gets
  503 `server_busy` with Retry-After, its body unread (declared) or no further read;
  one that could never fit, even alone, gets 413.
  The reservation is released when the caller is done with the buffer. Refusals count
  in `o3_rejected_requests_total{reason="body_budget"}`.
- A buffered body over `SMALL_BODY` (or of unknown length) must arrive within
  `BODY_GRACE_S` + its size at `BODY_MIN_RATE` (else 408 `body_timeout`, reservation
  released): a client cannot hold budget by trickling a large declared body. Small
  declared bodies (every usual request) skip the timer: they hold next to nothing.
- A declared body is read into ONE preallocated bytearray (no growing copies, no
  `bytes()` copy at the end); the caller parses from it.
- Parsing expands: pydantic builds Python objects for everything in a JSON document
  before it can refuse it (measured: up to ~40x the bytes for a list of `{}`; the
  body's bytes alone would under-count). So a parse reserves `PARSE_FACTOR` x the
  bytes it parses (`parsing`) on top of the buffer, until validation is over; JSON
  bodies are small after big data URLs are lifted (`service.api.openai.blobs`).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager

from starlette.requests import Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.api.errors import error_response
from service.errors import ApiError
from service.observability.metrics import Metrics
from service.settings import Settings

SMALL_BODY = 64 * 1024
JSON_REASON_BODY = 1024 * 1024
FORM_OVERHEAD = 1024 * 1024
UPLOAD_PATHS = ("/v1/videos",)
BODY_GRACE_S = 10.0  # a buffered body gets this long, plus its size at BODY_MIN_RATE
BODY_MIN_RATE = 1024 * 1024  # bytes/s
PARSE_FACTOR = 48  # bytes of Python objects per JSON byte, worst case seen ~40
STATE_CAP = "body_cap"
STATE_DECLARED = "body_declared"


def body_cap(method: str, path: str, content_type: str, settings: Settings) -> int:
    """The most bytes a request to `method path` with `content_type` may send."""
    if method != "POST":
        return SMALL_BODY
    multipart = content_type.lower().startswith("multipart/")
    if path in UPLOAD_PATHS or (path == "/v1/reason" and multipart):
        return settings.max_upload_bytes + FORM_OVERHEAD
    if path == "/v1/reason":
        return JSON_REASON_BODY
    if path == "/v1/chat/completions":
        return settings.max_chat_body_bytes
    return SMALL_BODY


def too_large(cap: int, path: str) -> ApiError:
    hint = ("; upload the video to /v1/videos and send its id"
            if path in ("/v1/reason", "/v1/chat/completions") else "")
    return ApiError(413, "body_too_large", f"request body exceeds {cap} bytes{hint}")


def _header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope.get("headers", ()):
        if key == name:
            return bytes(value).decode("latin-1")
    return None


def declared_length(scope: Scope) -> int | None:
    """The request's Content-Length, None when absent; 400 when it is not a number."""
    raw = _header(scope, b"content-length")
    if raw is None:
        return None
    if not raw.strip().isdigit() or len(raw.strip()) > 19:
        raise ApiError(400, "invalid_content_length", "Content-Length is not a byte count")
    return int(raw.strip())


class BodyLimitMiddleware:
    """Answers 413 for a declared length over the route's cap; caps streamed bodies."""

    def __init__(self, app: ASGIApp, settings: Settings) -> None:
        self.app = app
        self.settings = settings

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        cap = body_cap(str(scope.get("method", "")), path,
                       _header(scope, b"content-type") or "", self.settings)
        try:
            declared = declared_length(scope)
            if declared is not None and declared > cap:
                raise too_large(cap, path)
        except ApiError as err:  # answered now; the server discards what still comes
            await error_response(err)(scope, receive, send)
            return
        state = scope.setdefault("state", {})
        state[STATE_CAP], state[STATE_DECLARED] = cap, declared
        await self.app(scope, _capped(receive, cap, path), send)


def _capped(receive: Receive, cap: int, path: str) -> Receive:
    seen = 0

    async def capped_receive() -> Message:
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > cap:
                raise too_large(cap, path)
        return message

    return capped_receive


class BodyBudget:
    """Bytes of request bodies buffered in memory right now, process-wide, bounded.
    One event loop per process: the counter needs no lock."""

    def __init__(self, limit: int, retry_after_s: int = 1,
                 metrics: Metrics | None = None) -> None:
        self.limit = limit
        self.held = 0
        self.retry_after_s = retry_after_s
        self.metrics = metrics

    def take(self, n: int) -> None:
        if n > self.limit:  # would never fit: retrying cannot help
            raise ApiError(413, "body_too_large", "the request body is larger than this "
                           "server parses at once (O3_MAX_BUFFERED_BODY_BYTES)")
        if self.held + n > self.limit:
            if self.metrics is not None:
                self.metrics.rejected.labels("body_budget").inc()
            raise ApiError(503, "server_busy", "too many large request bodies are being "
                           "parsed right now (O3_MAX_BUFFERED_BODY_BYTES); retry later",
                           headers={"Retry-After": str(self.retry_after_s)})
        self.held += n

    def give(self, n: int) -> None:
        self.held -= n


@contextmanager
def parsing(budget: BodyBudget, nbytes: int) -> Iterator[None]:
    """Reserve what parsing `nbytes` of JSON may cost in objects, for the block."""
    cost = nbytes * PARSE_FACTOR
    budget.take(cost)
    try:
        yield
    finally:
        budget.give(cost)


@asynccontextmanager
async def buffered_body(request: Request, budget: BodyBudget) -> AsyncIterator[bytearray]:
    """The whole body in one bytearray, its size reserved in `budget` until exit. The
    body must arrive at `BODY_MIN_RATE` on average after `BODY_GRACE_S` (else 408): a
    client trickling a large declared body would hold its reservation for hours."""
    declared: int | None = request.scope.get("state", {}).get(STATE_DECLARED)
    if declared is not None and declared <= SMALL_BODY:  # the hot path: no timer needed,
        budget.take(declared)  # a trickled small body holds next to nothing
        try:
            yield await _read_declared(request, declared)
        finally:
            budget.give(declared)
        return
    taken = 0
    loop = asyncio.get_running_loop()
    start = loop.time()
    try:
        async with asyncio.timeout(start + BODY_GRACE_S) as deadline:
            if declared is not None:
                budget.take(declared)
                taken = declared
                deadline.reschedule(start + BODY_GRACE_S + declared / BODY_MIN_RATE)
                buf = await _read_declared(request, declared)
            else:
                buf = bytearray()
                async for chunk in request.stream():
                    budget.take(len(chunk))
                    taken += len(chunk)
                    buf += chunk
                    deadline.reschedule(start + BODY_GRACE_S + taken / BODY_MIN_RATE)
    except TimeoutError as exc:
        budget.give(taken)
        raise ApiError(408, "body_timeout", "the request body arrived too slowly "
                       f"(under {BODY_MIN_RATE} bytes/s on average)") from exc
    except BaseException:  # disconnect, 413 on the way, budget full, cancel: release
        budget.give(taken)
        raise
    try:
        yield buf
    finally:
        budget.give(taken)


async def _read_declared(request: Request, size: int) -> bytearray:
    buf = bytearray(size)
    view = memoryview(buf)
    pos = 0
    async for chunk in request.stream():
        end = pos + len(chunk)
        if end > size:  # the server enforces Content-Length; never write past it
            raise ApiError(400, "invalid_content_length", "body longer than Content-Length")
        view[pos:end] = chunk
        pos = end
    view.release()
    if pos != size:
        raise ApiError(400, "invalid_content_length", "body shorter than Content-Length")
    return buf
