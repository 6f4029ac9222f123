"""Fixtures of the hostile suite: the gateway in-process (ASGI) and as a process.

`gateway(**settings)`: `create_app` with test settings and a `ScriptedBackend`, its
lifespan running, an `httpx.AsyncClient` over ASGI (fast: most attacks need no
socket). `process_gateway(tmp, env)`: `python -m service` against a scripted vLLM
stand-in, for what needs a real server (memory, slow peers, SIGTERM, Redis killed).
Every input the suite sends is generated here or in the test: nothing is read from
outside the repository.
"""

from __future__ import annotations

import threading
import time
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import AbstractAsyncContextManager, asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import httpx
import psutil
import pytest

from service.app import create_app
from service.inference.backend import Backend
from service.inference.doubles import ScriptedBackend
from service.settings import Settings
from service.video.synth import write_moving_square
from tests.support.gateway import GatewayProcess, start_gateway
from tests.support.vllm_standin import start_standin

TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")
KEYS = {"acme-key-0123456789": "acme", "globex-key-0123456789": "globex"}
ADMIN_KEY = "admin-key-0123456789"
Gateway = Callable[..., AbstractAsyncContextManager[httpx.AsyncClient]]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def tenant_settings() -> dict[str, Any]:
    pairs = ",".join(f"{k}={t}" for k, t in KEYS.items())
    return {"api_key_tenants": pairs, "admin_keys": ADMIN_KEY}


@pytest.fixture(scope="session")
def video_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("hostile-videos") / "square.mp4"
    write_moving_square(path, duration=2.0)
    return path


def settings_for(tmp_path: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {"data_dir": tmp_path, "env": "dev", "default_n": 2,
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
            async with httpx.AsyncClient(transport=transport, base_url="http://gw",
                                         timeout=60.0) as client:
                client.app = app  # type: ignore[attr-defined]
                yield client

    return make


@contextmanager
def process_gateway(tmp: Path, env: dict[str, str], backend: Backend | None = None
                    ) -> Iterator[GatewayProcess]:
    """`python -m service` on a scripted vLLM stand-in; stopped (SIGTERM) at exit."""
    with start_standin(backend or ScriptedBackend([TRACE])) as vllm_url:
        gw = start_gateway(tmp, {"O3_VLLM_URL": vllm_url, "O3_VLLM_MODEL": "scripted-double",
                                 "O3_DEFAULT_N": "2", **env})
        try:
            yield gw
        finally:
            gw.stop()


def rss(gw: GatewayProcess) -> int:
    return int(psutil.Process(gw.proc.pid).memory_info().rss)


class PeakRss:
    """Samples a process's RSS every 20 ms in a thread; `.peak` after `stop()`."""

    def __init__(self, pid: int) -> None:
        self._proc = psutil.Process(pid)
        self.peak = self._proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.peak = max(self.peak, self._proc.memory_info().rss)
            except psutil.Error:
                return
            time.sleep(0.02)

    def stop(self) -> int:
        self._stop.set()
        self._thread.join(timeout=5)
        return self.peak


def assert_error(r: httpx.Response, status: int, code: str | None = None) -> dict[str, Any]:
    """`r` is `status` in the one error shape (and carries `code` when given)."""
    assert r.status_code == status, (r.status_code, r.text[:500])
    body: dict[str, Any] = r.json()
    err = body["error"]
    assert set(err) == {"message", "type", "param", "code"}, body
    if code is not None:
        assert err["code"] == code, body
    return err
