"""`/health` (process alive), `/ready` (backend reachable, model served), `/metrics`."""

from __future__ import annotations

import asyncio

from fastapi import APIRouter, Request, Response
from pydantic import BaseModel

from service.api.openapi import ERRORS
from service.errors import ApiError

router = APIRouter(tags=["health"])
READY_TIMEOUT_S = 5.0


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
async def ready(request: Request) -> Ready:
    backend = request.app.state.services.backend
    try:
        h = await asyncio.wait_for(backend.health(), READY_TIMEOUT_S)
    except Exception as exc:
        raise ApiError(503, "backend_unavailable", f"backend health check failed: {exc}") from exc
    if not h.ok:
        raise ApiError(503, "backend_unavailable", f"backend not ready: {h.detail or 'down'}")
    return Ready(ready=True, model=h.model_id, detail=h.detail)


@router.get("/metrics", summary="Prometheus metrics (text exposition format)",
            response_class=Response,
            responses={200: {"content": {"text/plain": {"example": "o3_http_requests_total"}}}})
async def metrics(request: Request) -> Response:
    m = request.app.state.services.metrics
    return Response(m.render(), media_type=m.content_type)
