"""`/health` (process alive), `/ready` (backend reachable, model served, and Redis
answering when one is configured), `/metrics`.

`/ready` is 503 `redis_unavailable` while O3_REDIS_URL is set and Redis does not
answer a PING within `REDIS_PING_S`; it is ready again as soon as Redis is back (the
client reconnects by itself; nothing is restarted).

`/ready` while a backend loads its model (one with `loading_s()`, the local backend)
answers at once: 503 `{"status": "loading", "since_s": ...}` plus the usual `error`
object (code `model_loading`), and 200 as soon as the load is done and the backend
answers its health check.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from pydantic import BaseModel

from service.api.errors import error_body
from service.api.openapi import ERRORS
from service.errors import ApiError
from service.inference.backend import Backend, BackendHealth

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 5.0
REDIS_PING_S = 1.0


class Health(BaseModel):
    status: str = "ok"


class Ready(BaseModel):
    ready: bool
    model: str
    detail: str = ""


@router.get("/health", response_model=Health, summary="Liveness: the process answers")
async def health() -> Health:
    return Health()


@router.get("/ready", response_model=Ready, responses={503: ERRORS[503]},
            summary="Readiness: the backend is reachable and serves the model")
async def ready(request: Request) -> Any:
    await _check_redis(request)
    backend = request.app.state.services.backend
    loading = loading_seconds(backend)
    if loading is not None:
        return loading_response(loading)
    h = await _backend_health(backend)
    if h.loading and loading_seconds(backend) is None:
        h = await _backend_health(backend)  # the load ended while we asked: its outcome
    if not h.ok:
        if (loading := loading_seconds(backend)) is not None:  # began while we asked
            return loading_response(loading)
        raise ApiError(503, "backend_unavailable", f"backend not ready: {h.detail or 'down'}")
    return Ready(ready=True, model=h.model_id, detail=h.detail)


async def _backend_health(backend: Backend) -> BackendHealth:
    try:
        return await asyncio.wait_for(backend.health(), READY_TIMEOUT_S)
    except Exception as exc:
        raise ApiError(503, "backend_unavailable", f"backend health check failed: {exc}") from exc


def loading_seconds(backend: object) -> float | None:
    """How long the backend has been loading its model; None when it is not loading
    (or cannot say: backends without `loading_s`)."""
    probe = getattr(backend, "loading_s", None)
    value = probe() if callable(probe) else None
    return float(value) if isinstance(value, int | float) else None


def loading_response(seconds: float) -> JSONResponse:
    since = round(seconds, 1)
    body = {"status": "loading", "since_s": since,
            **error_body(503, "model_loading", f"the model has been loading for {since} s")}
    return JSONResponse(body, status_code=503, headers={"Retry-After": "1"})


async def _check_redis(request: Request) -> None:
    client = getattr(request.app.state, "redis", None)
    if client is None:
        return
    try:
        await asyncio.wait_for(client.ping(), REDIS_PING_S)
    except Exception as exc:
        raise ApiError(503, "redis_unavailable",
                       f"Redis (O3_REDIS_URL) does not answer: {type(exc).__name__}",
                       headers={"Retry-After": "1"}) from exc


@router.get("/metrics", summary="Prometheus metrics (text exposition format)",
            response_class=Response,
            responses={200: {"content": {"text/plain": {"example": "o3_http_requests_total"}}}})
async def metrics(request: Request) -> Response:
    m = request.app.state.services.metrics
    return Response(m.render(), media_type=m.content_type)
