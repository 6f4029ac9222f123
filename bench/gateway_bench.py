"""Gateway overhead and upload memory, side by side in one run.

    python -m bench.gateway_bench [--seconds 8] [--concurrency 16] [--uploads 20]
                                  [--upload-mb 200]

1. Throughput: `POST /v1/reason` on a cached video (the gateway app with an instant
   ScriptedBackend; after the first request every answer is a cache hit, so no decode
   and no inference) versus a bare FastAPI endpoint returning a JSON body of the same
   size, each in its own uvicorn process with the same settings (1 worker, log level
   warning, no access log), driven by the same httpx load loop. Prints req/s, p50,
   p99 and the ratios. Targets: throughput >= 0.5x bare, p50 overhead < 10 ms.
2. Memory: `--uploads` concurrent streaming uploads of `--upload-mb` MB each to
   `/v1/videos`; the server's RSS (psutil) is sampled throughout. The bytes are not
   a video (the store hashes and writes them, then the probe refuses them with 415 and
   the file is removed): what is measured is the streaming path. Target: RSS growth
   < 200 MB.

Both servers and the load generator share this machine's cores: read the ratios,
not the absolute numbers.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import psutil
from fastapi import FastAPI, Request
from fastapi.responses import Response

ROOT = Path(__file__).resolve().parents[1]
TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")


# ---- servers (run in child processes) -------------------------------------------------
def serve(kind: str, port: int, data_dir: str, body_file: str) -> None:
    import uvicorn

    if kind == "gateway":
        from service.app import create_app
        from service.inference.doubles import ScriptedBackend
        from service.settings import Settings

        settings = Settings(_env_file=None, data_dir=Path(data_dir), env="dev",  # type: ignore[call-arg]
                            log_level="warning", max_concurrency=64, max_queue=1024)
        app = create_app(settings, backend=ScriptedBackend([TRACE]))
    else:
        app = FastAPI()
        body = Path(body_file).read_bytes() if body_file else b"{}"

        @app.post("/bare")
        async def bare(request: Request) -> Response:
            await request.json()  # parse the same request body the gateway parses
            return Response(body, media_type="application/json")

    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start(kind: str, port: int, data_dir: str, body_file: str = "") -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, "-m", "bench.gateway_bench", "--serve", kind,
                             "--port", str(port), "--data-dir", data_dir,
                             "--body-file", body_file], cwd=ROOT)
    for _ in range(300):
        try:
            httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
            return proc
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- load -------------------------------------------------------------------------------
async def load(url: str, payload: dict[str, Any], seconds: float, concurrency: int
               ) -> tuple[float, list[float]]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30, limits=httpx.Limits(
            max_connections=concurrency)) as client:

        async def worker() -> None:
            while time.perf_counter() < stop_at:
                t0 = time.perf_counter()
                r = await client.post(url, json=payload)
                latencies.append(time.perf_counter() - t0)
                if r.status_code != 200:
                    raise RuntimeError(f"{url}: {r.status_code} {r.text[:200]}")

        t0 = time.perf_counter()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        return len(latencies) / (time.perf_counter() - t0), latencies


def pct(xs: list[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))] * 1000


def throughput(args: argparse.Namespace, tmp: Path) -> None:
    from service.video.synth import write_moving_square

    video = tmp / "square.mp4"
    write_moving_square(video, duration=2.0)
    gport, bport = free_port(), free_port()
    gw = start("gateway", gport, str(tmp / "gw"))
    try:
        with video.open("rb") as f:
            vid = httpx.post(f"http://127.0.0.1:{gport}/v1/videos",
                             files={"file": ("v.mp4", f)}).json()["id"]
        payload = {"video_id": vid, "question": "Which? A. x B. y", "n": 8}
        first = httpx.post(f"http://127.0.0.1:{gport}/v1/reason", json=payload, timeout=60)
        body_file = tmp / "body.json"
        body_file.write_bytes(first.content)
        bare = start("bare", bport, str(tmp / "bare"), str(body_file))
        try:
            urls = {"bare FastAPI": f"http://127.0.0.1:{bport}/bare",
                    "/v1/reason (cached)": f"http://127.0.0.1:{gport}/v1/reason"}
            for url in urls.values():  # warm both (connections, first-call imports)
                asyncio.run(load(url, payload, 0.5, 2))
            results = {name: asyncio.run(load(url, payload, args.seconds, args.concurrency))
                       for name, url in urls.items()}
            sequential = {name: asyncio.run(load(url, payload, args.seconds / 2, 1))
                          for name, url in urls.items()}
        finally:
            bare.terminate()
    finally:
        gw.terminate()
    print(f"\n== throughput: {args.concurrency} concurrent clients, {args.seconds:g} s each, "
          f"response {len(first.content)} bytes ==")
    print(f"{'endpoint':<22}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}")
    for name, (rps, lat) in results.items():
        print(f"{name:<22}{rps:>10.0f}{pct(lat, 0.5):>10.2f}{pct(lat, 0.99):>10.2f}")
    (b_rps, b_lat), (g_rps, g_lat) = results.values()
    print(f"throughput ratio gateway/bare: {g_rps / b_rps:.2f}x  (target >= 0.5x)")
    print(f"p50 overhead under load: {pct(g_lat, 0.5) - pct(b_lat, 0.5):.2f} ms")
    print("-- one client at a time (latency without queueing) --")
    for name, (rps, lat) in sequential.items():
        print(f"{name:<22}{rps:>10.0f}{pct(lat, 0.5):>10.2f}{pct(lat, 0.99):>10.2f}")
    (_, sb), (_, sg) = sequential.values()
    print(f"p50 overhead, sequential: {pct(sg, 0.5) - pct(sb, 0.5):.2f} ms  (target < 10 ms)")


# ---- upload memory ----------------------------------------------------------------------
class PatternFile:
    """A file-like object producing `size` bytes on the fly (nothing held in memory)."""

    def __init__(self, size: int, seed: int) -> None:
        self.left = size
        self.block = (bytes([seed % 251]) + os.urandom(4095)) * 256  # 1 MiB

    def read(self, n: int = -1) -> bytes:
        n = len(self.block) if n < 0 else min(n, len(self.block))
        n = min(n, self.left)
        self.left -= n
        return self.block[:n]


async def uploads(port: int, count: int, size: int) -> list[int]:
    async with httpx.AsyncClient(timeout=600) as client:
        async def one(i: int) -> int:
            r = await client.post(f"http://127.0.0.1:{port}/v1/videos",
                                  files={"file": (f"u{i}.bin", PatternFile(size, i))})  # type: ignore[dict-item]
            return r.status_code

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def memory(args: argparse.Namespace, tmp: Path) -> None:
    port = free_port()
    gw = start("gateway", port, str(tmp / "gw-mem"))
    try:
        proc = psutil.Process(gw.pid)
        base = proc.memory_info().rss
        peak = base
        size = args.upload_mb * 1024 * 1024

        async def run() -> list[int]:
            nonlocal peak
            task = asyncio.create_task(asyncio.to_thread(asyncio.run,
                                                         uploads(port, args.uploads, size)))
            while not task.done():
                peak = max(peak, proc.memory_info().rss)
                await asyncio.sleep(0.05)
            return await task

        t0 = time.perf_counter()
        statuses = asyncio.run(run())
        took = time.perf_counter() - t0
    finally:
        gw.terminate()
    total_mb = args.uploads * args.upload_mb
    print(f"\n== memory: {args.uploads} concurrent uploads x {args.upload_mb} MB "
          f"({total_mb} MB streamed in {took:.1f} s, statuses {sorted(set(statuses))}) ==")
    print(f"server RSS before {base / 2**20:.0f} MB, peak {peak / 2**20:.0f} MB, "
          f"growth {(peak - base) / 2**20:.0f} MB  (target < 200 MB)")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--seconds", type=float, default=8.0)
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--uploads", type=int, default=20)
    p.add_argument("--upload-mb", type=int, default=200)
    p.add_argument("--skip", choices=["throughput", "memory"], action="append", default=[])
    p.add_argument("--serve", choices=["gateway", "bare"], help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--body-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port, args.data_dir, args.body_file)
        return
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        if "throughput" not in args.skip:
            throughput(args, Path(tmp))
        if "memory" not in args.skip:
            memory(args, Path(tmp))
    print(json.dumps({"cpu_count": os.cpu_count()}))


if __name__ == "__main__":
    main()
