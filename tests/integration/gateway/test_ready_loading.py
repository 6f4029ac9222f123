"""/ready while the local model loads: 503 "loading" at once, 200 as soon as it answers.

The real LocalHFBackend on the tiny checkpoint; the only change is that the load
waits for the test's go-ahead (the wrapped `load_model` blocks on an event before the
real load), so the loading window is as long as the test needs, not a race.
"""

from __future__ import annotations

import asyncio
import threading
import time
from typing import Any

import httpx
import pytest

from service.inference import local_hf
from service.inference.local_hf import LocalHFBackend
from tests.integration.gateway.conftest import Gateway
from tests.support.fixtures import build_tiny_once


@pytest.fixture
def gated_load(monkeypatch: pytest.MonkeyPatch) -> threading.Event:
    """`load_model` waits for the returned event; the process-wide model cache is
    emptied for the test, so the load really happens."""
    go = threading.Event()
    real = local_hf.load_model

    def gated(*args: Any, **kwargs: Any) -> Any:
        assert go.wait(30), "test never released the load"
        return real(*args, **kwargs)

    monkeypatch.setattr(local_hf, "_LOADED", {})
    monkeypatch.setattr(local_hf, "load_model", gated)
    return go


async def test_ready_says_loading_then_200(gateway: Gateway, gated_load: threading.Event) -> None:
    backend = LocalHFBackend(build_tiny_once(0), device="cpu", threads=1)
    async with gateway(backend) as c:
        await asyncio.sleep(0.2)  # the lifespan started the load; it is waiting
        r = await c.get("/ready")  # the load is held: any answer now did not wait for it
        assert r.status_code == 503, r.text
        body = r.json()
        assert body["status"] == "loading"
        assert 0.1 <= body["since_s"] < 30
        assert body["error"]["code"] == "model_loading"
        assert r.headers["retry-after"] == "1" and r.headers["x-request-id"]
        later = (await c.get("/ready")).json()["since_s"]
        assert later >= body["since_s"]  # the clock runs while loading
        assert not backend.loaded
        gated_load.set()
        deadline = time.monotonic() + 60
        while (r := await c.get("/ready")).status_code != 200:
            assert time.monotonic() < deadline, r.text
            assert r.json()["status"] == "loading", r.text  # never another 503 meanwhile
            await asyncio.sleep(0.05)
        assert backend.loaded and backend.loading_s() is None
        assert r.json()["ready"] is True


def broken_backend(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> LocalHFBackend:
    """The real local backend on a checkpoint with a config and no weights."""
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "config.json").write_text('{"model_type": "qwen2_5_vl"}', encoding="utf-8")
    monkeypatch.setattr(local_hf, "_LOADED", {})
    return LocalHFBackend(broken, device="cpu", threads=1)


async def ready_after_loading(c: httpx.AsyncClient) -> httpx.Response:
    """/ready polled until it stops answering `loading` (60 s at most)."""
    deadline = time.monotonic() + 60
    while (r := await c.get("/ready")).json().get("status") == "loading":
        assert time.monotonic() < deadline
        await asyncio.sleep(0.05)
    return r


async def test_failed_load_is_503_with_the_reason(gateway: Gateway, tmp_path: Any,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    async with gateway(broken_backend(tmp_path, monkeypatch)) as c:
        r = await ready_after_loading(c)
        assert r.status_code == 503
        assert r.json()["error"]["code"] == "backend_unavailable"
        assert "load failed" in r.json()["error"]["message"]


async def test_a_load_that_fails_while_ready_asks_gives_the_failure(
        gateway: Gateway, tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    # CI caught the window: /ready saw no load in progress, the backend's health()
    # then saw one ("loading for 0.0 s"), and the load failed before /ready looked
    # again; /ready answered "backend not ready: loading for 0.0 s", neither loading
    # nor the failure. The window, replayed with the real backend: loading_s() is
    # None, then 0.0 inside health(), then None again.
    backend = broken_backend(tmp_path, monkeypatch)
    async with gateway(backend) as c:
        await ready_after_loading(c)
        answers = iter([None, 0.0])
        monkeypatch.setattr(backend, "loading_s", lambda: next(answers, None))
        r = await c.get("/ready")
    assert r.status_code == 503, r.text
    assert "load failed" in r.json()["error"]["message"], r.text
