"""Bench integration fixtures: the live gateway (in-process app, real Redis) whose
model server is the CPU vLLM stand-in over real HTTP, reached through the SDK.

`bench_service(backend)` starts the stand-in on `backend`, builds `create_app` with a
`VLLMHTTPBackend` pointed at it, runs the app's lifespan and yields a
`GatewayTarget` over `clients.sdk.AsyncClient` on an ASGI transport.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import httpx
import pytest

from clients.bench.target import GatewayTarget
from clients.sdk import AsyncClient
from service.app import create_app
from service.inference.backend import Backend
from service.inference.vllm_http import VLLMHTTPBackend
from service.settings import Settings
from tests.support.fixtures import local_backend, tiny_checkpoint  # noqa: F401
from tests.support.vllm_standin import StandinState, start_standin

BenchService = Callable[..., AbstractAsyncContextManager[GatewayTarget]]


@pytest.fixture
def bench_service(tmp_path: Path, redis_db_url: str) -> BenchService:
    @asynccontextmanager
    async def make(backend: Backend, state: StandinState | None = None,
                   random_tiny: bool | None = None) -> AsyncIterator[GatewayTarget]:
        settings = Settings(_env_file=None, data_dir=tmp_path / "gw", env="dev",  # type: ignore[call-arg]
                            redis_url=redis_db_url, sync_max_duration_s=60.0,
                            request_timeout_s=120.0, max_concurrency=4)
        with start_standin(backend, state=state) as url:
            model = VLLMHTTPBackend(url, backend.model_id)
            app = create_app(settings, backend=model, random_tiny=random_tiny)
            async with app.router.lifespan_context(app):
                transport = httpx.ASGITransport(app=app)
                async with AsyncClient("http://gw", transport=transport, timeout=120.0) as c:
                    yield GatewayTarget(c)
            await model.close()

    return make
