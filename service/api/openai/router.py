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

from service.api.deps import request_id
from service.api.errors import ApiError
from service.api.guard import guarded
from service.api.openai.protocol import ChatCompletion, ChatCompletionRequest, ModelCard, ModelList
from service.api.openai.service import ChatService
from service.api.openapi import ERRORS
from service.security.auth import ApiKeyRoute

router = APIRouter(prefix="/v1", tags=["openai"], route_class=ApiKeyRoute)
MAX_BODY = 128 * 1024 * 1024
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


async def read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise ApiError(413, "body_too_large", f"request body exceeds {limit} bytes; "
                           "upload the video to /v1/videos and send video://<id>")
    return bytes(body)


async def _parse(request: Request) -> ChatCompletionRequest:
    raw = await read_limited(request, MAX_BODY)
    try:
        return ChatCompletionRequest.model_validate_json(raw)
    except ValidationError as exc:
        first = exc.errors()[0] if exc.errors() else {"loc": (), "msg": "invalid request"}
        param = ".".join(str(p) for p in first["loc"]) or None
        msg = f"{param}: {first['msg']}" if param else str(first["msg"])
        raise ApiError(400, "invalid_request", msg, param=param) from exc


@router.post("/chat/completions", response_model=ChatCompletion, responses=ERRORS,
             openapi_extra=CHAT_BODY, summary="OpenAI-compatible chat completion over a video",
             description="`n` traces are sampled and voted over; one choice (the verdict) is "
             "returned. Content = the answer only; `reasoning_content` and `grounding` extra.")
async def chat(request: Request) -> Any:
    req = await _parse(request)
    svc: ChatService = request.app.state.services.chat
    timeout = svc.settings.request_timeout_s
    result = await guarded(request, svc.complete(req, request_id(request)), timeout)
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
