"""Error shape, auth, and the fault cases: backend down, slow backend, overload."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.inference.doubles import ScriptedBackend
from service.video import synth
from tests.integration.gateway.conftest import Gateway, upload

MISSING = "0" * 64


def assert_error(r: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert r.status_code == status, r.text
    err: dict[str, Any] = r.json()["error"]
    assert err["code"] == code and set(err) == {"message", "type", "param", "code"}
    assert r.headers.get("x-request-id")
    return err


@pytest.mark.parametrize(("method", "path", "kwargs", "status", "code"), [
    # unknown video id -> 404 in the one error shape
    ("POST", "/v1/reason", {"json": {"video_id": MISSING, "question": "q"}}, 404,
     "video_not_found"),
    # malformed id never reaches the filesystem
    ("POST", "/v1/reason", {"json": {"video_id": "../../etc/passwd", "question": "q"}}, 400,
     "invalid_request"),
    # a typo'd field is refused, not silently ignored
    ("POST", "/v1/reason", {"json": {"video_id": MISSING, "question": "q", "nn": 3}}, 400,
     "invalid_request"),
    # neither video_id nor video_url
    ("POST", "/v1/reason", {"json": {"question": "q"}}, 400, "invalid_request"),
    # form-encoded body is not a supported media type
    ("POST", "/v1/reason", {"data": {"question": "q"}}, 415, "unsupported_media_type"),
    # video_url is off by default
    ("POST", "/v1/reason", {"json": {"video_url": "http://x.example/v.mp4", "question": "q"}},
     400, "video_url_disabled"),
    ("GET", f"/v1/videos/{MISSING}", {}, 404, "video_not_found"),
    ("GET", "/v1/videos/not-hex", {}, 400, "invalid_request"),
    ("GET", "/v1/jobs/job_nope", {}, 404, "job_not_found"),
    ("GET", "/v1/nothing-here", {}, 404, "not_found"),
    # chat without any video or frames
    ("POST", "/v1/chat/completions", {"json": {"model": "m", "messages": [
        {"role": "user", "content": "hi"}]}}, 400, "invalid_request"),
    # an image_url that is not a data URL (no fetching of arbitrary URLs)
    ("POST", "/v1/chat/completions", {"json": {"model": "m", "messages": [{"role": "user",
        "content": [{"type": "text", "text": "q"}, {"type": "image_url",
                    "image_url": {"url": "http://169.254.169.254/"}}]}]}}, 400,
     "unsupported_image_url"),
])
async def test_bad_requests(gateway: Gateway, method: str, path: str, kwargs: dict[str, Any],
                            status: int, code: str) -> None:
    async with gateway() as c:
        assert_error(await c.request(method, path, **kwargs), status, code)


async def test_upload_of_random_bytes_is_refused_and_not_kept(gateway: Gateway,
                                                              tmp_path: Path) -> None:
    async with gateway() as c:
        r = await c.post("/v1/videos", files={"file": ("x.mp4", b"\x00garbage" * 500)})
        assert_error(r, 415, "not_a_video")
        stored = [p for p in (tmp_path / "videos").iterdir() if p.is_file()]
    assert stored == []


async def test_a_video_with_latin1_metadata_is_stored_and_reasoned_on(
        gateway: Gateway, tmp_path: Path) -> None:
    # bug: PyAV decodes metadata as strict UTF-8, so a real file tagged in Latin-1 was
    # a 500 at upload; the service never reads the tags and now takes the file
    path = synth.write_latin1_title(tmp_path / "latin1.mp4")
    async with gateway() as c:
        r = await c.post("/v1/videos", files={"file": ("latin1.mp4", path.read_bytes())})
        assert r.status_code == 201, r.text
        answer = await c.post("/v1/reason", json={"video_id": r.json()["id"],
                                                  "question": "What moves?"})
        assert answer.status_code == 200, answer.text


async def test_upload_cap_enforced_while_streaming(gateway: Gateway, video_path: Path) -> None:
    async with gateway(max_upload_bytes=1000) as c:
        with video_path.open("rb") as f:
            r = await c.post("/v1/videos", files={"file": ("v.mp4", f)})
        assert_error(r, 413, "video_too_large")


async def test_api_keys(gateway: Gateway) -> None:
    async with gateway(api_keys="s3cret-key") as c:
        assert_error(await c.get("/v1/models"), 401, "missing_api_key")
        assert_error(await c.get("/v1/models", headers={"Authorization": "Bearer no"}), 401,
                     "invalid_api_key")
        ok = await c.get("/v1/models", headers={"Authorization": "Bearer s3cret-key"})
        assert ok.status_code == 200
        assert (await c.get("/health")).status_code == 200  # liveness needs no key
        echoed = await c.get("/health", headers={"X-Request-ID": "abc-123"})
        assert echoed.headers["x-request-id"] == "abc-123"


async def test_backend_down_then_recovers(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend(available=False)
    async with gateway(backend) as c:
        video = await upload(c, video_path)
        assert_error(await c.get("/ready"), 503, "backend_unavailable")
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "q"})
        assert_error(r, 503, "backend_unavailable")
        backend.available = True
        assert (await c.get("/ready")).status_code == 200
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "q"})
        assert r.status_code == 200
        metrics = (await c.get("/metrics")).text
    assert 'o3_backend_errors_total{kind="backend_unavailable"} 1.0' in metrics


async def test_slow_backend_hits_deadline(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend(delay=5.0)
    async with gateway(backend, request_timeout_s=0.3) as c:
        video = await upload(c, video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "q"})
        err = assert_error(r, 504, "deadline_exceeded")
        metrics = (await c.get("/metrics")).text
    assert "O3_REQUEST_TIMEOUT_S" in err["message"]
    assert "o3_inference_in_flight 0.0" in metrics  # the cancelled work released its slot


async def test_overload_gets_429_at_once(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend(delay=0.5)
    async with gateway(backend, max_concurrency=1, max_queue=0) as c:
        video = await upload(c, video_path)

        async def ask(q: str) -> httpx.Response:
            return await c.post("/v1/reason", json={"video_id": video["id"], "question": q})

        first = asyncio.create_task(ask("one"))
        await asyncio.sleep(0.1)
        t0 = asyncio.get_running_loop().time()
        second = await ask("two")
        waited = asyncio.get_running_loop().time() - t0
        assert (await first).status_code == 200
    assert_error(second, 429, "too_many_requests")
    assert second.headers["retry-after"] == "1" and waited < 0.4  # refused without waiting


async def test_video_url_refuses_loopback(gateway: Gateway) -> None:
    async with gateway(video_url_enabled=True, video_url_allowlist="localhost") as c:
        r = await c.post("/v1/reason", json={"video_url": "http://localhost:9/v.mp4",
                                             "question": "q"})
    assert_error(r, 400, "video_url_forbidden_address")


async def test_web_page_served_without_auth(gateway: Gateway) -> None:
    from service.app import WEB_DIR

    if not (WEB_DIR / "index.html").exists():
        pytest.skip("service/web/index.html not present (written by the clients area)")
    async with gateway(api_keys="k-1234567890") as c:
        page = await c.get("/")
        missing = await c.get("/v1/not-a-route")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    # the static mount at / must not swallow API 404s into HTML or skip the error shape
    assert_error(missing, 404, "not_found")
