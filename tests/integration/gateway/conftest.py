"""Fixtures of the gateway's in-process tests: real app, real PyAV videos, ScriptedBackend.

`gateway(...)` builds `create_app` with test settings (a temp data dir) and the given
backend, runs its lifespan, and yields an `httpx.AsyncClient` over ASGI.
`wait_status`/`wait_job` poll a job with a wall-clock bound and fail with its last state.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.inference.backend import Backend
from service.inference.doubles import ScriptedBackend
from service.settings import Settings
from service.video.synth import write_moving_square

TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")
Gateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


@pytest.fixture(scope="session")
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2 s 160x120 H.264 moving-square video."""
    path = tmp_path_factory.mktemp("videos") / "square.mp4"
    write_moving_square(path, duration=2.0)
    return path


@pytest.fixture(scope="session")
def long_video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 12 s low-fps video: longer than the tests' sync limit of 5 s."""
    path = tmp_path_factory.mktemp("videos") / "long.mp4"
    write_moving_square(path, duration=12.0, fps=5.0)
    return path


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp_path, "env": "dev", "default_n": 4,
                            "sync_max_duration_s": 5.0, "request_timeout_s": 10.0}
    base.update(overrides)
    return Settings(_env_file=None, **base)  # type: ignore[call-arg]


@pytest.fixture
def gateway(tmp_path: Path) -> Gateway:
    @asynccontextmanager
    async def make(backend: Backend | None = None, **overrides: Any
                   ) -> AsyncIterator[httpx.AsyncClient]:
        app = create_app(settings_for(tmp_path, **overrides),
                         backend=backend or ScriptedBackend([TRACE]))
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://gw") as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return make


async def upload(client: httpx.AsyncClient, path: Path, **headers: str) -> dict[str, Any]:
    with path.open("rb") as f:
        r = await client.post("/v1/videos", files={"file": (path.name, f, "video/mp4")},
                              headers=headers)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


async def wait_status(c: httpx.AsyncClient, job_id: str, statuses: tuple[str, ...],
                      timeout: float = 20.0) -> dict[str, Any]:
    """The job once its status is one of `statuses`; fails after `timeout` wall-clock
    seconds (not polls: a slow poll under load must not stretch the bound)."""
    deadline = time.monotonic() + timeout
    job: dict[str, Any] = {}
    while time.monotonic() < deadline:
        job = (await c.get(f"/v1/jobs/{job_id}")).json()
        if job["status"] in statuses:
            return job
        await asyncio.sleep(0.05)
    raise AssertionError(f"job {job_id} not {'/'.join(statuses)} within {timeout} s: {job}")


async def wait_job(c: httpx.AsyncClient, job_id: str, timeout: float = 20.0) -> dict[str, Any]:
    return await wait_status(c, job_id, ("done", "failed", "cancelled"), timeout)
