"""One error shape for every non-2xx response, and the one mapping onto it.

Shape (OpenAI's): `{"error": {"message", "type", "param", "code"}}`. `type` follows
from the status (see `TYPE_BY_STATUS`). Exceptions that know their status carry it:
`ApiError` (ours; defined in `service.errors` so guards below this layer raise it),
`BackendError` subclasses, and video errors (any exception with
`.status` and `.code` attributes, as `service.video` raises). Everything else is a
logged 500: a plain ValueError is a bug, not a bad request.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import ClientDisconnect

from service.errors import ApiError
from service.inference.backend import BackendError
from service.inference.images import ImageDataError
from service.state.redis_client import StateUnavailable
from service.video.errors import VideoError

log = logging.getLogger("service.errors")

TYPE_BY_STATUS = {
    401: "authentication_error",
    403: "permission_error",
    429: "rate_limit_error",
    503: "service_unavailable",
    504: "timeout_error",
}


def error_type(status: int) -> str:
    if status in TYPE_BY_STATUS:
        return TYPE_BY_STATUS[status]
    return "server_error" if status >= 500 else "invalid_request_error"


def error_body(status: int, code: str, message: str, param: str | None = None) -> dict[str, Any]:
    return {"error": {"message": message, "type": error_type(status), "param": param,
                      "code": code}}


def to_api_error(exc: BaseException) -> ApiError:
    """Map any exception onto an `ApiError` (unknown ones -> 500, message hidden)."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, BackendError):
        return ApiError(exc.status, exc.code, str(exc) or exc.code)
    status, code = getattr(exc, "status", None), getattr(exc, "code", None)
    if isinstance(status, int) and isinstance(code, str) and 400 <= status < 600:
        headers = getattr(exc, "headers", None)
        return ApiError(status, code, str(exc) or code, param=getattr(exc, "param", None),
                        headers=dict(headers) if isinstance(headers, dict) else None)
    if isinstance(exc, ClientDisconnect):
        return ApiError(499, "client_disconnected", "the client closed the connection")
    if isinstance(exc, TimeoutError):
        return ApiError(504, "deadline_exceeded", "the request did not finish in time")
    return ApiError(500, "internal_error", "internal server error")


def error_response(err: ApiError) -> JSONResponse:
    body = error_body(err.status, err.code, err.message, err.param)
    return JSONResponse(body, status_code=err.status, headers=err.headers)


_LOCATION_ROOTS = ("body", "query", "path", "form")


def invalid_request(exc: ValidationError | RequestValidationError | ValueError, *,
                    rename: Mapping[str, str] | None = None) -> ApiError:
    """The one mapping of a validation failure onto 400 `invalid_request`: the first
    error's location (dotted, without body/query/path/form) prefixes the message and is
    the `param` (`rename` maps an internal field onto the one the client sent)."""
    errors = exc.errors() if isinstance(exc, ValidationError | RequestValidationError) else []
    if not errors:
        return ApiError(400, "invalid_request", str(exc) or "invalid request")
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ()) if p not in _LOCATION_ROOTS)
    msg = str(first.get("msg", "invalid request"))
    param = (rename or {}).get(where, where) or None
    return ApiError(400, "invalid_request", f"{where}: {msg}" if where else msg, param=param)


async def _handle_any(request: Request, exc: Exception) -> JSONResponse:
    err = to_api_error(exc)
    if err.status == 500:
        log.exception("unhandled error on %s", request.url.path, exc_info=exc)
    return error_response(err)


async def _handle_validation(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(invalid_request(exc))


def allowed_methods(request: Request) -> str:
    """Every method some route serves at this path (Starlette's 405 names only the
    first matching route's: GET without DELETE on /v1/videos/{id}). `create_app` puts
    the (path regex, methods) of every API route on `app.state.route_methods`."""
    methods: set[str] = set()
    path = request.url.path
    for regex, route_methods in getattr(request.app.state, "route_methods", ()):
        if regex.match(path):
            methods |= set(route_methods)
    return ", ".join(sorted(methods))


async def _handle_http(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    err = ApiError(exc.status_code, code, str(exc.detail), headers=dict(exc.headers or {}))
    if exc.status_code == 405:
        err.headers["Allow"] = allowed_methods(request) or err.headers.get("Allow", "")
    return error_response(err)


def install_error_handlers(app: FastAPI) -> None:
    """Known error classes are answered by the routing layer; any other exception by the
    outermost handler (Starlette re-raises those after answering, so servers log them)."""
    app.add_exception_handler(RequestValidationError, _handle_validation)
    app.add_exception_handler(StarletteHTTPException, _handle_http)
    for known in (ApiError, BackendError, VideoError, ImageDataError, TimeoutError,
                  ClientDisconnect, StateUnavailable):
        app.add_exception_handler(known, _handle_any)
    app.add_exception_handler(Exception, _handle_any)
