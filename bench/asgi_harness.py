"""In-process ASGI harness: the gateway's cached /v1/reason against a bare FastAPI
endpoint, called as ASGI apps directly (no sockets, no HTTP parsing, no client), so
the CPU per request is the apps' own.

    python -m bench.asgi_harness [--requests 3000] [--rounds 5] [--profile OUT.prof]

Both apps are built in this process: the real gateway (`create_app`, auth on with one
key, metrics, request ids, result cache, the instant `ScriptedBackend`; the video is
uploaded and the answer computed once, so every measured request is a cache hit) and a
bare FastAPI app whose one route parses the same JSON body and returns the gateway's
response bytes. Each request gets a fresh scope (method, path, headers as uvicorn
builds them) and a one-message body; the response is collected and its status
checked. Rounds alternate (A B, B A, ...); each round's figure is process CPU time
(`time.process_time`) per request, and the report gives the medians and the per-round
ratio gateway / bare. `--profile` writes a cProfile of extra gateway requests.

Used by `bench.gateway_bench` too (the in-process half of its report).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import json
import os
import statistics
import tempfile
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI, Request
from fastapi.responses import Response

ASGIApp = Callable[[dict[str, Any], Any, Any], Awaitable[None]]
TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")
API_KEY = "bench-key-1"


def bare_app(body: bytes) -> FastAPI:
    """A bare FastAPI endpoint: parse the JSON body, return fixed bytes."""
    app = FastAPI()

    @app.post("/bare")
    async def bare(request: Request) -> Response:
        await request.json()  # parse the same request body the gateway parses
        return Response(body, media_type="application/json")

    return app


def scope_for(path: str, body: bytes, key: str) -> dict[str, Any]:
    headers = [(b"host", b"127.0.0.1:8000"), (b"user-agent", b"python-httpx/0.28"),
               (b"accept", b"*/*"), (b"content-type", b"application/json"),
               (b"content-length", str(len(body)).encode())]
    if key:
        headers.append((b"authorization", f"Bearer {key}".encode()))
    return {"type": "http", "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1", "server": ("127.0.0.1", 8000),
            "client": ("127.0.0.1", 50000), "scheme": "http", "method": "POST",
            "root_path": "", "path": path, "raw_path": path.encode(), "query_string": b"",
            "headers": headers}


async def call(app: ASGIApp, path: str, body: bytes, key: str, state: dict[str, Any]
               ) -> tuple[int, bytes]:
    """One request through `app`; (status, body)."""
    scope = scope_for(path, body, key)
    scope["state"] = dict(state)
    sent = False
    status = 0
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal sent
        if sent:
            await asyncio.Event().wait()  # a disconnect never comes during the request
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = message["status"]
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    await app(scope, receive, send)
    return status, b"".join(chunks)


async def cpu_per_request(app: ASGIApp, path: str, body: bytes, key: str, n: int,
                          state: dict[str, Any]) -> float:
    """Process CPU seconds per request over `n` sequential requests."""
    c0 = time.process_time()
    for _ in range(n):
        status, _ = await call(app, path, body, key, state)
        if status != 200:
            raise RuntimeError(f"{path}: status {status}")
    return (time.process_time() - c0) / n


@dataclass
class Prepared:
    gateway: FastAPI
    bare: FastAPI
    body: bytes
    response: bytes


async def prepare(tmp: Path, key: str = API_KEY) -> tuple[Prepared, Any]:
    """The gateway (lifespan entered: call `.__aexit__` on the returned context when
    done) with a cached answer, and the bare app returning the same bytes."""
    from service.app import create_app
    from service.inference.doubles import ScriptedBackend
    from service.settings import Settings
    from service.video.synth import write_moving_square

    video = tmp / "square.mp4"
    write_moving_square(video, duration=2.0)
    settings = Settings(_env_file=None, data_dir=tmp / "data", env="dev",  # type: ignore[call-arg]
                        log_level="warning", api_keys=key, max_concurrency=64,
                        max_queue=1024)
    gateway = create_app(settings, backend=ScriptedBackend([TRACE]))
    lifespan = gateway.router.lifespan_context(gateway)
    await lifespan.__aenter__()
    headers = {"Authorization": f"Bearer {key}"} if key else {}
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://gw",
                                 headers=headers) as client:
        with video.open("rb") as f:
            r = await client.post("/v1/videos", files={"file": ("v.mp4", f)})
        r.raise_for_status()
        payload = {"video_id": r.json()["id"], "question": "Which? A. x B. y", "n": 8}
        body = json.dumps(payload).encode()
        first = await client.post("/v1/reason", content=body,
                                  headers={"content-type": "application/json"})
        first.raise_for_status()
    return Prepared(gateway, bare_app(first.content), body, first.content), lifespan


def interleaved(p: Prepared, rounds: int, n: int, key: str) -> dict[str, list[float]]:
    """Per-round CPU us per request, gateway and bare alternating (AB, BA, ...)."""
    out: dict[str, list[float]] = {"bare FastAPI": [], "/v1/reason (cached)": []}
    targets: dict[str, tuple[FastAPI, str]] = {"bare FastAPI": (p.bare, "/bare"),
                                               "/v1/reason (cached)": (p.gateway, "/v1/reason")}

    async def run() -> None:
        for app, path in targets.values():  # warm both (first-call imports, memos)
            await cpu_per_request(app, path, p.body, key, 200, {})
        names = list(targets)
        for i in range(rounds):
            for name in names if i % 2 == 0 else names[::-1]:
                app, path = targets[name]
                out[name].append(1e6 * await cpu_per_request(app, path, p.body, key, n, {}))

    asyncio.get_event_loop().run_until_complete(run())
    return out


def report(res: dict[str, list[float]]) -> float:
    """Print medians and per-round ratios; returns the median ratio."""
    med = statistics.median
    bare, gw = res["bare FastAPI"], res["/v1/reason (cached)"]
    ratios = [g / b for b, g in zip(bare, gw, strict=True)]
    print(f"-- in-process ASGI (no sockets), CPU us per request, medians of {len(bare)} "
          "interleaved rounds --")
    print(f"bare FastAPI {med(bare):8.1f} us   /v1/reason (cached) {med(gw):8.1f} us   "
          f"ratio median {med(ratios):.2f}x (rounds {min(ratios):.2f}..{max(ratios):.2f}; "
          "target <= 1.2x)")
    return med(ratios)


def profile(p: Prepared, n: int, key: str, out: Path) -> None:
    async def run() -> None:
        await cpu_per_request(p.gateway, "/v1/reason", p.body, key, n, {})

    prof = cProfile.Profile()
    prof.enable()
    asyncio.get_event_loop().run_until_complete(run())
    prof.disable()
    prof.dump_stats(str(out))
    print(f"cProfile of {n} cached gateway requests written to {out}")


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m bench.asgi_harness",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=3000, help="per round and app")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--api-key", default=API_KEY, help="'' = auth off")
    ap.add_argument("--profile", type=Path, help="also write a cProfile of the gateway")
    args = ap.parse_args(argv)
    print(f"load average: {os.getloadavg()}", flush=True)
    loop = asyncio.new_event_loop()
    asyncio.set_event_loop(loop)
    with tempfile.TemporaryDirectory(prefix="asgi-harness-") as tmp:
        prepared, lifespan = loop.run_until_complete(prepare(Path(tmp), args.api_key))
        try:
            report(interleaved(prepared, args.rounds, args.requests, args.api_key))
            if args.profile:
                profile(prepared, args.requests, args.api_key, args.profile)
        finally:
            loop.run_until_complete(lifespan.__aexit__(None, None, None))
    print(f"load average after: {os.getloadavg()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
