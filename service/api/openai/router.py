"""HTTP routes of the OpenAI-compatible surface; streaming as server-sent events.

The verdict needs all N traces, so a streamed response is computed first and then
sent as chunks: role, reasoning, content, a final chunk with `finish_reason` and
`grounding`, then ONLY when `stream_options.include_usage` is true (OpenAI's rule) a
usage chunk with no choices, then `data: [DONE]`. Every other chunk has exactly one
choice, so OpenAI's quickstart loop (`chunk.choices[0].delta`) works. Errors before
the stream starts are ordinary HTTP errors in OpenAI's shape.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import StreamingResponse
from pydantic import ValidationError

from service.api.body import buffered_body, parsing
from service.api.deps import request_id
from service.api.errors import invalid_request
from service.api.guard import guarded
from service.api.openai.blobs import lift_data_urls
from service.api.openai.protocol import ChatCompletion, ChatCompletionRequest, ModelCard, ModelList
from service.api.openai.service import ChatService
from service.api.openapi import ERRORS
from service.errors import ApiError
from service.security.auth import ApiKeyRoute, Principal, principal

router = APIRouter(prefix="/v1", tags=["openai"], route_class=ApiKeyRoute)
JSON_MAX = 2 * 1024 * 1024  # a chat request's JSON once its big data: URLs are lifted
CHAT_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "application/json": {"schema": {"$ref": "#/components/schemas/ChatCompletionRequest"}}}}}


@router.get("/models", response_model=ModelList, responses=ERRORS,
            summary="The served model (OpenAI format, plus `random_tiny_model`)")
async def models(request: Request) -> ModelList:
    svc = request.app.state.services
    m = svc.model
    started = int(getattr(request.app.state, "started_at", 0))
    return ModelList(data=[ModelCard(id=m.model_id, created=started,
                                     random_tiny_model=m.random_tiny, revision=m.revision)])


def _validate(doc: bytes | bytearray) -> ChatCompletionRequest:
    try:
        return ChatCompletionRequest.model_validate_json(doc, strict=True)  # n: "2" -> 400
    except ValidationError as exc:
        raise invalid_request(exc) from exc


async def _parse(request: Request, svc: ChatService, who: Principal) -> ChatCompletionRequest:
    """The validated request. The body (size-capped before it was read, and reserved in
    the body budget while held) is one buffer: big `data:` URLs are not copied into the
    parsed model but streamed from the buffer (a video into the store), and the buffer
    is released before the inference starts (`service.api.openai.blobs`). What is left
    to parse is at most `JSON_MAX` bytes, and its parse is reserved in the budget too."""
    budget = request.app.state.body_budget
    async with buffered_body(request, budget) as raw:
        doc, blobs = lift_data_urls(raw)
        try:
            if len(doc) > JSON_MAX:
                raise ApiError(413, "body_too_large", f"the request's JSON, data: URLs "
                               f"aside, exceeds {JSON_MAX} bytes")
            with parsing(budget, len(doc)):
                req = _validate(doc)
            del doc
            await svc.inline_blobs(req, blobs, who)
        finally:
            blobs.release()
    return req


@router.post("/chat/completions", response_model=ChatCompletion, responses=ERRORS,
             openapi_extra=CHAT_BODY, summary="OpenAI-compatible chat completion over a video",
             description="`n` traces are sampled and voted over; one choice (the verdict) is "
             "returned. Content = the answer only; `reasoning_content` and `grounding` extra.")
async def chat(request: Request) -> Any:
    svc: ChatService = request.app.state.services.chat
    who = principal(request)
    req = await _parse(request, svc, who)
    timeout = svc.settings.request_timeout_s
    async with request.app.state.quotas.inference(who.tenant, exempt=who.admin):
        result = await guarded(request, svc.complete(req, request_id(request), who), timeout)
    if not req.stream:
        return result
    include_usage = bool(req.stream_options and req.stream_options.include_usage)
    return StreamingResponse(sse(result, include_usage), media_type="text/event-stream")


def _chunk(done: ChatCompletion, delta: dict[str, Any], finish: str | None,
           **extra: Any) -> str:
    body = {"id": done.id, "object": "chat.completion.chunk", "created": done.created,
            "model": done.model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}], **extra}
    return f"data: {json.dumps(body)}\n\n"


async def sse(done: ChatCompletion, include_usage: bool) -> AsyncIterator[str]:
    msg = done.choices[0].message
    yield _chunk(done, {"role": "assistant", "content": ""}, None)
    if msg.reasoning_content:
        yield _chunk(done, {"reasoning_content": msg.reasoning_content}, None)
    yield _chunk(done, {"content": msg.content}, None)
    yield _chunk(done, {}, done.choices[0].finish_reason, grounding=done.grounding)
    if include_usage:
        usage = {"id": done.id, "object": "chat.completion.chunk", "created": done.created,
                 "model": done.model, "choices": [], "usage": done.usage.model_dump()}
        yield f"data: {json.dumps(usage)}\n\n"
    yield "data: [DONE]\n\n"
