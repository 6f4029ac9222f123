"""Gateway overhead and upload memory, side by side in one run.

    python -m bench.gateway_bench [--seconds 2] [--rounds 5] [--concurrency 16]
                                  [--uploads 20] [--upload-mb 200]
                                  [--api-key KEY] [--baseline-root DIR]

1. Throughput: `POST /v1/reason` on a cached video (the gateway app with an instant
   ScriptedBackend; after the first request every answer is a cache hit, so no decode
   and no inference) versus a bare FastAPI endpoint that parses the same JSON body and
   returns the gateway's own response bytes, each in its own uvicorn process with the
   same settings (1 worker, log level warning, no access log), driven by the same
   httpx load loop. Method: both are warmed, then measured in `--rounds` INTERLEAVED
   rounds (A B, B A, A B, ...) of `--seconds` each, 16 concurrent clients and then one
   client at a time; reported are medians over rounds, and the median and range of
   the per-round ratios. (Measuring one endpoint fully and then the other let machine
   warm-up and background load favour whichever went second.) The server process's
   CPU time per request is measured too (psutil): on a small machine the Python load
   generator saturates before the servers do, and then req/s compares the client with
   itself, while CPU per request still compares the servers. Targets: throughput
   >= 0.5x bare, p50 overhead < 10 ms.
   `--api-key` (default: one key) runs the gateway with API-key auth on, as deployed
   (`--api-key ""`: auth off); every client sends the header (the bare endpoint
   ignores it). `--baseline-root DIR` adds a third server, the gateway of another
   checkout of this repository (e.g. `git archive <commit> | tar -x -C DIR`), measured
   in the same interleaved rounds, so a change is judged before/after in ONE run.
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
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
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


def start(kind: str, port: int, data_dir: str, body_file: str = "", *, root: Path = ROOT,
          api_key: str = "") -> subprocess.Popen[bytes]:
    """A server process; `root` is the checkout whose code it runs (`python -m` from
    there puts that checkout first on sys.path). The key reaches the gateway's
    settings through its environment (O3_API_KEYS), so an older checkout gets it too."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("O3_")}
    env["O3_API_KEYS"] = api_key
    proc = subprocess.Popen([sys.executable, "-m", "bench.gateway_bench", "--serve", kind,
                             "--port", str(port), "--data-dir", data_dir,
                             "--body-file", body_file], cwd=root, env=env)
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
HEADERS: dict[str, str] = {}  # sent with every request (the API key, when one is set)


async def load(url: str, payload: dict[str, Any], seconds: float, concurrency: int
               ) -> tuple[float, list[float]]:
    latencies: list[float] = []
    stop_at = time.perf_counter() + seconds
    async with httpx.AsyncClient(timeout=30, headers=HEADERS, limits=httpx.Limits(
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


@dataclass
class Round:
    """One load run against one endpoint."""

    rps: float
    latencies: list[float]  # seconds
    cpu_ms: float  # the server process's CPU time (user + sys) per request


def measured(url: str, pid: int, payload: dict[str, Any], seconds: float,
             concurrency: int) -> Round:
    proc = psutil.Process(pid)
    before = proc.cpu_times()
    rps, lat = asyncio.run(load(url, payload, seconds, concurrency))
    after = proc.cpu_times()
    used = (after.user - before.user) + (after.system - before.system)
    return Round(rps, lat, used * 1000 / max(1, len(lat)))


def interleaved(targets: dict[str, tuple[str, int]], payloads: dict[str, dict[str, Any]],
                rounds: int, seconds: float, concurrency: int) -> dict[str, list[Round]]:
    """`rounds` load runs per endpoint, alternating endpoints (AB, BA, AB, ...), so
    machine warm-up and background-load drifts hit both alike."""
    out: dict[str, list[Round]] = {name: [] for name in targets}
    names = list(targets)
    for i in range(rounds):
        for name in names if i % 2 == 0 else names[::-1]:
            url, pid = targets[name]
            out[name].append(measured(url, pid, payloads[name], seconds, concurrency))
    return out


def report(title: str, res: dict[str, list[Round]]) -> None:
    """Medians per endpoint, then every gateway against the bare endpoint (the first),
    and, with a baseline, the current gateway against it (the last two)."""
    med = statistics.median
    print(f"-- {title} (medians over {len(next(iter(res.values())))} interleaved rounds) --")
    print(f"{'endpoint':<30}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'server CPU ms/req':>20}")
    for name, runs in res.items():
        print(f"{name:<30}{med(r.rps for r in runs):>10.0f}"
              f"{med(pct(r.latencies, 0.5) for r in runs):>10.2f}"
              f"{med(pct(r.latencies, 0.99) for r in runs):>10.2f}"
              f"{med(r.cpu_ms for r in runs):>20.3f}")
    names = list(res)
    for name in names[1:]:
        print(f"{name} vs {names[0]}:")
        compare(res[names[0]], res[name], target=True)
    if len(names) == 3:
        print(f"{names[2]} vs {names[1]}:")
        compare(res[names[1]], res[names[2]], target=False)


def compare(base: list[Round], other: list[Round], *, target: bool) -> None:
    """Per-round ratios of `other` to `base` (same round = same machine conditions)."""
    med = statistics.median
    pairs = list(zip(base, other, strict=True))
    ratios = [g.rps / b.rps for b, g in pairs]
    overheads = [pct(g.latencies, 0.5) - pct(b.latencies, 0.5) for b, g in pairs]
    cpu = [g.cpu_ms / b.cpu_ms for b, g in pairs]
    goal = "; target >= 0.5x" if target else ""
    print(f"  throughput ratio: median {med(ratios):.2f}x "
          f"(rounds {min(ratios):.2f}..{max(ratios):.2f}{goal})")
    goal = "; target < 10 ms" if target else ""
    print(f"  p50 difference: median {med(overheads):.2f} ms "
          f"(rounds {min(overheads):.2f}..{max(overheads):.2f}{goal})")
    print(f"  server CPU per request ratio: median {med(cpu):.2f}x "
          f"(rounds {min(cpu):.2f}..{max(cpu):.2f}); capacity ratio if the server "
          f"were the bottleneck: {1 / med(cpu):.2f}x")


def throughput(args: argparse.Namespace, tmp: Path) -> None:
    from service.video.synth import write_moving_square

    video = tmp / "square.mp4"
    write_moving_square(video, duration=2.0)
    HEADERS.update({"Authorization": f"Bearer {args.api_key}"} if args.api_key else {})
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    try:
        gws = [("/v1/reason (cached)", ROOT)]
        if args.baseline_root:
            gws.insert(0, ("/v1/reason baseline", Path(args.baseline_root).resolve()))
        for name, root in gws:
            port = free_port()
            proc = start("gateway", port, str(tmp / name.replace("/", "_")), root=root,
                         api_key=args.api_key)
            servers[name] = (proc, f"http://127.0.0.1:{port}")
        payloads, first = prime(video, servers)  # video ids are per gateway (tenant HMAC)
        body_file = tmp / "body.json"
        body_file.write_bytes(first)
        bport = free_port()
        bare = start("bare", bport, str(tmp / "bare"), str(body_file))
        servers = {"bare FastAPI": (bare, f"http://127.0.0.1:{bport}"), **servers}
        payloads["bare FastAPI"] = next(iter(payloads.values()))
        targets = {name: (url + ("/bare" if proc is bare else "/v1/reason"), proc.pid)
                   for name, (proc, url) in servers.items()}
        for name, (url, _) in targets.items():  # warm all (connections, first-call imports)
            asyncio.run(load(url, payloads[name], 1.0, 2))
        loaded = interleaved(targets, payloads, args.rounds, args.seconds, args.concurrency)
        single = interleaved(targets, payloads, args.rounds, args.seconds / 2, 1)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
    print(f"\n== throughput: response {len(first)} bytes, {args.seconds:g} s per "
          f"round and endpoint, auth {'on' if args.api_key else 'off'} ==")
    report(f"{args.concurrency} concurrent clients", loaded)
    report("one client at a time (latency without queueing)", single)


def prime(video: Path, servers: dict[str, tuple[Any, str]]
          ) -> tuple[dict[str, dict[str, Any]], bytes]:
    """Upload the video to every gateway and compute the answer once (then it is
    cached); each gateway's payload (its own video id) and the last one's response."""
    payloads: dict[str, dict[str, Any]] = {}
    first = b""
    for name, (_, base) in servers.items():
        with video.open("rb") as f:
            vid = httpx.post(f"{base}/v1/videos", files={"file": ("v.mp4", f)},
                             headers=HEADERS).json()["id"]
        payloads[name] = {"video_id": vid, "question": "Which? A. x B. y", "n": 8}
        r = httpx.post(f"{base}/v1/reason", json=payloads[name], headers=HEADERS, timeout=60)
        r.raise_for_status()
        first = r.content
    return payloads, first


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
            r = await client.post(f"http://127.0.0.1:{port}/v1/videos", headers=HEADERS,
                                  files={"file": (f"u{i}.bin", PatternFile(size, i))})  # type: ignore[dict-item]
            return r.status_code

        return list(await asyncio.gather(*(one(i) for i in range(count))))


def memory(args: argparse.Namespace, tmp: Path) -> None:
    port = free_port()
    gw = start("gateway", port, str(tmp / "gw-mem"), api_key=args.api_key)
    HEADERS.update({"Authorization": f"Bearer {args.api_key}"} if args.api_key else {})
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
    p.add_argument("--seconds", type=float, default=2.0, help="per round and endpoint")
    p.add_argument("--rounds", type=int, default=5, help="interleaved rounds per endpoint")
    p.add_argument("--concurrency", type=int, default=16)
    p.add_argument("--uploads", type=int, default=20)
    p.add_argument("--upload-mb", type=int, default=200)
    p.add_argument("--api-key", default="bench-key-1", help="gateway API key ('' = auth off)")
    p.add_argument("--baseline-root", help="another checkout whose gateway runs alongside")
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
