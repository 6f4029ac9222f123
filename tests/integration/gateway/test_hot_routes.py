"""`HotRoutes` answers exactly as FastAPI's router would: the same requests, through an
app with the hot path and one without, give the same statuses, error bodies, headers
and metrics (route template, status)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

import httpx

from service.app import create_app
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, settings_for

KEY = "hot-routes-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
VOLATILE = {"id", "request_id", "timings", "created", "job_id"}  # per request, never equal


ORIGIN = "https://app.example"


@asynccontextmanager
async def client(tmp: Path, hot: bool, backend: ScriptedBackend) -> AsyncIterator[
        httpx.AsyncClient]:
    # one id secret: the same video gets the same (tenant-scoped) id in both apps
    app = create_app(settings_for(tmp, api_keys=KEY, cors_origins=ORIGIN, id_secret="hot"),
                     backend=backend,
                     hot_path=hot)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            yield c


def _stable(body: Any) -> Any:
    if isinstance(body, dict):
        return {k: _stable(v) for k, v in body.items() if k not in VOLATILE}
    if isinstance(body, list):
        return [_stable(v) for v in body]
    return body


async def _script(c: httpx.AsyncClient, video: Path) -> list[tuple[Any, ...]]:
    """The same requests, in order; what each answered (volatile fields dropped)."""
    with video.open("rb") as f:
        vid = (await c.post("/v1/videos", files={"file": ("v.mp4", f)}, headers=AUTH)).json()["id"]
    ok = {"video_id": vid, "question": "Which? A. x B. y", "n": 2}
    requests: list[tuple[str, dict[str, Any]]] = [
        ("POST", {"json": ok}),                                      # 401: no key
        ("POST", {"json": ok, "headers": {"Authorization": "Bearer nope"}}),  # 401: bad key
        ("POST", {"json": {**ok, "video_id": "a" * 64}, "headers": AUTH}),    # 404
        ("POST", {"content": b"{not json", "headers": {**AUTH, "content-type":
                                                       "application/json"}}),  # 400
        ("POST", {"json": {**ok, "n": 0}, "headers": AUTH}),          # 400 validation
        ("POST", {"content": b"hi", "headers": {**AUTH, "content-type": "text/plain"}}),
        ("POST", {"content": b" " * (1024 * 1024 + 1),
                  "headers": {**AUTH, "content-type": "application/json"}}),  # 413
        ("GET", {"headers": AUTH}),                                    # 405
        ("POST", {"json": ok, "headers": {**AUTH, "X-Request-ID": "abc-1"}}),  # computed
        ("POST", {"json": ok, "headers": AUTH}),                       # cached
        ("POST", {"json": {**ok, "async": True}, "headers": AUTH}),    # 202 job
        ("POST", {"files": {"file": ("v.mp4", video.read_bytes(), "video/mp4")},
                  "data": {"question": "Which? A. x B. y", "n": "2"},
                  "headers": AUTH}),                                  # multipart upload
    ]
    out = []
    for method, kwargs in requests:
        kwargs["headers"] = {**kwargs.get("headers", {}), "Origin": ORIGIN}  # CORS too
        r = await c.request(method, "/v1/reason", **kwargs)
        body = r.json() if r.headers.get("content-type", "").startswith("application/json") \
            else r.text
        headers = {k: v for k, v in r.headers.items()
                   if k in ("content-type", "www-authenticate", "allow", "retry-after",
                            "access-control-allow-origin", "vary")}
        assert r.headers.get("x-request-id")
        echoed = r.headers["x-request-id"] == "abc-1"
        location = r.headers.get("location", "").rsplit("/", 1)[0]
        out.append((r.status_code, _stable(body), headers, echoed, location))
    metrics = (await c.get("/metrics")).text
    out.append(tuple(sorted(line for line in metrics.splitlines()
                            if line.startswith("o3_http_requests_total{")
                            and 'route="/v1/reason"' in line)))
    return out


async def test_hot_path_answers_as_the_router_does(tmp_path: Path, video_path: Path) -> None:
    results = []
    for hot in (True, False):
        async with client(tmp_path / str(hot), hot, ScriptedBackend([TRACE])) as c:
            results.append(await _script(c, video_path))
    hot, routed = results
    assert [r[0] for r in hot[:-1]] == [401, 401, 404, 400, 400, 415, 413, 405, 200, 200, 202,
                                        200]
    assert hot == routed, json.dumps([hot, routed], indent=1, default=str)[:4000]
    assert hot[9][1]["cached"] is True and hot[8][3] is True
    assert hot[9][2]["access-control-allow-origin"] == ORIGIN  # CORS wraps the hot path


async def test_hot_path_backend_down_and_crash(tmp_path: Path, video_path: Path) -> None:
    results = []
    for hot in (True, False):
        down = ScriptedBackend(available=False)
        async with client(tmp_path / f"down{hot}", hot, down) as c:
            with video_path.open("rb") as f:
                vid = (await c.post("/v1/videos", files={"file": ("v.mp4", f)},
                                    headers=AUTH)).json()["id"]
            r = await c.post("/v1/reason", json={"video_id": vid, "question": "q"},
                             headers=AUTH)
            results.append((r.status_code, r.json()["error"]["code"]))
    assert results[0] == results[1] == (503, "backend_unavailable")


def test_reason_is_a_hot_route() -> None:
    # If /v1/reason's endpoint stops being `(request: Request) -> Response` (e.g. a
    # FastAPI dependency added to it), HotRoutes silently passes it to the router and
    # the cached path is ~1.6x slower again (bench/README.md): fail here instead.
    from service.api.hotpath import hot_routes
    from service.api.reason.router import router
    from service.app import HOT_PATHS

    assert set(hot_routes([router], HOT_PATHS)) == {("POST", "/v1/reason")}
