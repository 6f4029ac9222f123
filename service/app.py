"""`create_app(settings, *, backend=None, ...)`: the gateway as an ASGI app, plus its lifespan.

Nothing happens at import. `create_app` wires routes and middleware; the lifespan
builds (or takes) the backend, the video store, the result cache and the job queue,
starts the job workers, and closes everything on shutdown. Tests pass their own
backend (e.g. `ScriptedBackend`); production builds one from settings:
`O3_VLLM_URL` -> the vLLM HTTP backend; else the local transformers backend on
`O3_CHECKPOINT`, or on the random tiny checkpoint built under `O3_DATA_DIR` on first
start (every response then says `random_tiny_model: true`). A backend that loads a
model (`load()`, the local one) starts loading in the background at start-up; /ready
says "loading" meanwhile. `POST /v1/reason` is served by `HotRoutes` (its own route
handler, inside the request-context middleware) without FastAPI's router.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from fastapi.middleware.cors import CORSMiddleware
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles
from pydantic import BaseModel
from starlette.routing import Match, Mount
from starlette.types import Scope

from service.api.body import BodyBudget, BodyLimitMiddleware
from service.api.errors import install_error_handlers
from service.api.health.router import router as health_router
from service.api.hotpath import HotRoutes, hot_routes
from service.api.jobs.router import router as jobs_router
from service.api.jobs.service import JobsService
from service.api.media import Media
from service.api.openai.protocol import ChatCompletionRequest
from service.api.openai.router import router as openai_router
from service.api.openai.service import ChatService
from service.api.reason.protocol import ReasonFields, ReasonRequest
from service.api.reason.router import router as reason_router
from service.api.reason.service import ModelInfo, ReasonService
from service.api.videos.router import router as videos_router
from service.api.videos.service import VideosService
from service.inference.backend import Backend
from service.inference.checkpoint import CheckpointError, TrainedFrames, inspect_checkpoint
from service.observability.logging import configure_logging
from service.observability.metrics import Metrics
from service.observability.middleware import RequestContextMiddleware
from service.security.auth import key_table, require_authed
from service.security.limits import InferenceGate
from service.security.quotas import TenantQuotas
from service.settings import Settings
from service.state.cache import MemoryCache, RedisCache, ResultCache
from service.state.jobs import JobQueue, MemoryJobQueue, RedisJobQueue
from service.state.redis_client import Redis, connect

log = logging.getLogger("service.app")
WEB_DIR = Path(__file__).parent / "web"
HOT_PATHS = ("/v1/reason",)  # served by `HotRoutes` without FastAPI's router


@dataclass
class AppServices:
    """Everything a request handler may use; built once per process by the lifespan."""

    settings: Settings
    metrics: Metrics
    backend: Backend
    media: Media
    cache: ResultCache
    jobs: JobQueue
    reason: ReasonService
    videos: VideosService
    jobs_api: JobsService
    chat: ChatService
    model: ModelInfo


def build_backend(settings: Settings) -> tuple[Backend, bool]:
    """The backend settings name, and whether it is the random tiny model."""
    if settings.resolved_backend == "vllm":
        from service.inference.vllm_http import VLLMHTTPBackend

        return VLLMHTTPBackend(settings.vllm_url, settings.vllm_model,
                               api_key=settings.vllm_api_key or None,
                               frame_format=settings.vllm_frame_format,
                               jpeg_quality=settings.vllm_jpeg_quality,
                               revision=settings.model_revision or None), False
    from service.inference.local_hf import LocalHFBackend

    checkpoint = (Path(settings.checkpoint) if settings.checkpoint
                  else ensure_tiny_checkpoint(settings))
    backend = LocalHFBackend(checkpoint, threads=settings.torch_threads)
    return backend, backend.info.random_tiny_model


def trained_frames_of(settings: Settings) -> TrainedFrames | None:
    """The frame policy the served checkpoint was trained with, when `O3_CHECKPOINT`
    names a trained one (read from its training_config.json; also with vLLM serving it)."""
    if not settings.checkpoint:
        return None
    try:
        return inspect_checkpoint(settings.checkpoint).frames
    except CheckpointError:
        return None


def ensure_tiny_checkpoint(settings: Settings) -> Path:
    """The random tiny checkpoint under the data dir, built when missing or when an older
    build's context is shorter than the service's largest prompt needs."""
    from service.inference.tiny import MAX_POSITIONS

    out = settings.tiny_checkpoint_dir
    if (out / "config.json").exists() and (
            (inspect_checkpoint(out).max_positions or 0) < MAX_POSITIONS):
        log.warning("rebuilding the random tiny model under %s: its context is shorter "
                    "than %d positions", out, MAX_POSITIONS)
        (out / "config.json").unlink()
    if not (out / "config.json").exists():
        log.warning("O3_CHECKPOINT is empty: building a RANDOM TINY model under %s "
                    "(answers are noise; set O3_CHECKPOINT or O3_VLLM_URL for real use)", out)
        from service.inference.tiny import build_tiny_checkpoint

        build_tiny_checkpoint(out)
    return out


def _state(settings: Settings, metrics: Metrics) -> tuple[ResultCache, JobQueue, Redis | None]:
    if not settings.redis_url:
        return MemoryCache(settings.cache_ttl_s), MemoryJobQueue(), None
    client = connect(settings.redis_url)
    queue = RedisJobQueue(client, ttl_s=settings.job_ttl_s, claim_idle_s=settings.job_claim_idle_s,
                          max_attempts=settings.job_max_attempts)
    return RedisCache(client, settings.cache_ttl_s, metrics), queue, client


def _services(settings: Settings, metrics: Metrics, backend: Backend, random_tiny: bool,
              cache: ResultCache, jobs: JobQueue, quotas: TenantQuotas) -> AppServices:
    media = Media(settings)
    gate = InferenceGate(settings.max_concurrency, settings.max_queue, metrics)
    model = ModelInfo(backend.model_id, backend.revision, random_tiny,
                      trained_frames_of(settings))
    reason = ReasonService(settings=settings, media=media, cache=cache, backend=backend,
                           gate=gate, metrics=metrics, model=model)
    return AppServices(settings, metrics, backend, media, cache, jobs, reason,
                       VideosService(media), JobsService(jobs, reason, metrics, quotas),
                       ChatService(settings, reason, media), model)


def start_loading(backend: Backend) -> asyncio.Task[None] | None:
    """Load the model in the background now (backends with `load()`: the local one),
    so the first request does not pay for it; /ready says "loading" meanwhile."""
    load = getattr(backend, "load", None)
    if not callable(load):
        return None

    async def run() -> None:
        try:
            await load()
        except Exception as exc:  # /ready reports the failure when next asked
            log.error("loading the model failed: %s", exc)

    return asyncio.create_task(run(), name="model-load")


def _warn_settings(settings: Settings) -> None:
    if not settings.auth_enabled:
        log.warning("!!! O3_API_KEYS is empty: AUTHENTICATION IS OFF on every /v1 route !!!")


def _lifespan(settings: Settings, metrics: Metrics, backend: Backend | None,
              random_tiny: bool | None) -> Any:
    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        configure_logging(settings.log_level)
        _warn_settings(settings)
        owned = backend is None
        be, tiny = build_backend(settings) if backend is None else (backend, bool(random_tiny))
        cache, jobs, client = _state(settings, metrics)
        services = _services(settings, metrics, be, tiny, cache, jobs, app.state.quotas)
        app.state.services = services
        loading = start_loading(be)
        app.state.redis = client
        jobs.start(services.jobs_api.handle, settings.job_workers)
        try:
            yield
        finally:
            if loading is not None:
                loading.cancel()  # the load thread itself runs on; nothing waits for it
            await jobs.close()
            await cache.close()
            if client is not None:
                await client.aclose()  # type: ignore[attr-defined]  # stubs predate aclose
            if owned:
                await be.close()

    return lifespan


def _openapi_extras(app: FastAPI) -> None:
    """Add the schemas the reason route's hand-parsed bodies refer to."""
    original = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema:
            return app.openapi_schema
        schema = original()
        comps = schema.setdefault("components", {}).setdefault("schemas", {})
        ref = "#/components/schemas/{model}"
        named: tuple[tuple[str, type[BaseModel]], ...] = (
            ("ReasonRequest", ReasonRequest), ("ReasonMultipart", ReasonFields),
            ("ChatCompletionRequest", ChatCompletionRequest))
        for name, model in named:
            js = model.model_json_schema(ref_template=ref)
            comps.update(js.pop("$defs", {}))
            comps[name] = js
        props = comps["ReasonMultipart"].setdefault("properties", {})
        props["file"] = {"type": "string", "format": "binary"}
        comps["ReasonMultipart"].setdefault("required", []).append("file")
        app.openapi_schema = schema
        return schema

    app.openapi = openapi  # type: ignore[method-assign]


def create_app(settings: Settings, *, backend: Backend | None = None,
               random_tiny: bool | None = None, metrics: Metrics | None = None,
               hot_path: bool = True) -> FastAPI:
    """The gateway app. `backend` given -> used as is (and not closed by the app).
    `hot_path=False` routes `HOT_PATHS` through FastAPI too (tests compare the two)."""
    metrics = metrics or Metrics()
    app = FastAPI(
        title="Open-o3 Video gateway",
        version="0.1.0",
        description="Grounded video reasoning: answers with spatio-temporal evidence and "
        "confidence-aware voting over N sampled traces. See docs/API.md.",
        lifespan=_lifespan(settings, metrics, backend, random_tiny),
    )
    app.state.settings = settings
    app.state.key_table = key_table(settings)  # built once; read by every /v1 request
    app.state.quotas = TenantQuotas(settings.tenant_rpm, settings.tenant_max_concurrency,
                                    metrics)
    app.state.body_budget = BodyBudget(settings.max_buffered_body_bytes, metrics=metrics)
    app.state.redis = None
    app.state.started_at = time.time()
    install_error_handlers(app)
    # every /v1 route checks the API key itself (ApiKeyRoute); /v1/reason first: routes
    # are matched in order and it is the hot path (paths do not overlap, so order is free)
    for r in (reason_router, videos_router, jobs_router, openai_router):
        app.include_router(require_authed(r))
    app.include_router(health_router)
    app.state.route_methods = [
        (r.path_regex, frozenset(r.methods or ())) for router in (
            reason_router, videos_router, jobs_router, openai_router, health_router)
        for r in router.routes if isinstance(r, APIRoute)]
    _openapi_extras(app)
    if hot_path:  # innermost middleware: request context and CORS still wrap it
        app.add_middleware(HotRoutes, fastapi_app=app,
                           routes=hot_routes([reason_router], HOT_PATHS))
    # outside the hot routes: every body, hot or not, is size-checked before it is read;
    # inside CORS, so a browser sees the 413 itself
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    if settings.cors_origin_list:
        app.add_middleware(CORSMiddleware, allow_origins=list(settings.cors_origin_list),
                           allow_methods=["*"], allow_headers=["*"])
    app.add_middleware(RequestContextMiddleware, metrics=metrics)
    if WEB_DIR.is_dir():
        app.router.routes.append(WebMount("/", app=StaticFiles(directory=WEB_DIR, html=True),
                                          name="web"))
    return app


class WebMount(Mount):
    """The web page's files at `/`, never answering for API paths: a GET on a POST-only
    route must reach the router's 405 (and an unknown /v1 path its 404), not the page's
    file lookup."""

    API_PREFIXES = ("/v1/", "/health", "/ready", "/metrics", "/docs", "/redoc", "/openapi.json")

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope.get("type") == "http" and str(scope.get("path", "")).startswith(
                self.API_PREFIXES):
            return Match.NONE, {}
        return super().matches(scope)
