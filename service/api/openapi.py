"""OpenAPI fragments shared by routers: the error responses and the multipart bodies."""

from __future__ import annotations

from typing import Any

_ERROR_SCHEMA = {
    "type": "object",
    "properties": {"error": {"type": "object", "properties": {
        "message": {"type": "string"}, "type": {"type": "string"},
        "param": {"type": ["string", "null"]}, "code": {"type": "string"}},
        "required": ["message", "type", "code"]}},
    "required": ["error"],
}


def _err(description: str, code: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {
        "schema": _ERROR_SCHEMA,
        "example": {"error": {"message": description, "type": "invalid_request_error",
                              "param": None, "code": code}}}}}


ERRORS: dict[int | str, dict[str, Any]] = {
    400: _err("invalid request", "invalid_request"),
    401: _err("missing or invalid API key", "invalid_api_key"),
    404: _err("not found", "video_not_found"),
    413: _err("too large", "video_too_large"),
    415: _err("not a video / unsupported media type", "not_a_video"),
    422: _err("video refused (duration, dimensions, undecodable)", "video_too_long"),
    429: _err("at the concurrency and queue limits; see Retry-After", "too_many_requests"),
    503: _err("backend unavailable", "backend_unavailable"),
    504: _err("deadline exceeded", "deadline_exceeded"),
}

UPLOAD_BODY: dict[str, Any] = {"requestBody": {"required": True, "content": {
    "multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"}}}}}}}
