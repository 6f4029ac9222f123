"""The gateway on the real vLLM HTTP backend against the CPU stand-in server (real HTTP
on both sides): answers, backend-down readiness, and client-disconnect cancellation."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import uvicorn
from fastapi import FastAPI

from service.app import create_app
from service.inference.doubles import ScriptedBackend
from tests.conftest import free_port
from tests.integration.gateway.conftest import TRACE, settings_for
from tests.support.vllm_standin import StandinState, start_standin


@contextmanager
def serve(app: FastAPI) -> Iterator[str]:
    """Run `app` under uvicorn in a thread on a free port; yield its base URL."""
    port = free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(400):
        if server.started:
            break
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def upload_sync(base: str, path: Path) -> str:
    with path.open("rb") as f:
        r = httpx.post(f"{base}/v1/videos", files={"file": ("v.mp4", f)}, timeout=30)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def test_reason_through_vllm_standin(tmp_path: Path, video_path: Path) -> None:
    state = StandinState()
    with start_standin(ScriptedBackend([TRACE]), state=state) as vllm_url:
        app = create_app(settings_for(tmp_path, vllm_url=vllm_url, vllm_model="scripted-double"))
        with serve(app) as base:
            video_id = upload_sync(base, video_path)
            r = httpx.post(f"{base}/v1/reason", json={
                "video_id": video_id, "question": "Which? A. x B. y", "n": 4,
                "voting": "majority"}, timeout=30)
            ready = httpx.get(f"{base}/ready", timeout=10)
    assert r.status_code == 200, r.text
    assert r.json()["answer"] == "A" and r.json()["model"] == "scripted-double"
    assert ready.status_code == 200
    sampled = [q for q in state.requests if q.get("n") == 4]
    assert len(sampled) == 1  # all N traces in ONE request to vLLM


def test_vllm_down_is_503_and_not_ready(tmp_path: Path, video_path: Path) -> None:
    dead = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    app = create_app(settings_for(tmp_path, vllm_url=dead, vllm_model="m"))
    with serve(app) as base:
        video_id = upload_sync(base, video_path)
        ready = httpx.get(f"{base}/ready", timeout=10)
        r = httpx.post(f"{base}/v1/reason", json={"video_id": video_id, "question": "q"},
                       timeout=30)
    assert ready.status_code == 503 and ready.json()["error"]["code"] == "backend_unavailable"
    assert r.status_code == 503 and r.json()["error"]["code"] == "backend_unavailable"


def test_client_disconnect_cancels_backend_work(tmp_path: Path, video_path: Path) -> None:
    state = StandinState()
    with start_standin(ScriptedBackend([TRACE], delay=5.0), state=state) as vllm_url:
        app = create_app(settings_for(tmp_path, vllm_url=vllm_url,
                                      vllm_model="scripted-double", request_timeout_s=30))
        with serve(app) as base:
            video_id = upload_sync(base, video_path)

            async def ask_and_leave() -> None:
                async with httpx.AsyncClient(timeout=0.8) as c:
                    with contextlib.suppress(httpx.ReadTimeout):  # we hang up
                        await c.post(f"{base}/v1/reason", json={
                            "video_id": video_id, "question": "q", "voting": "majority"})

            asyncio.run(ask_and_leave())
            for _ in range(60):  # well under the backend's 5 s delay
                if state.disconnects:
                    break
                time.sleep(0.05)
            metrics = httpx.get(f"{base}/metrics", timeout=10).text
    assert state.disconnects >= 1 and state.completed == 0
    assert "o3_inference_in_flight 0.0" in metrics
