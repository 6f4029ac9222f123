"""Gateway overhead and upload memory, side by side in one run.

    python -m bench.gateway_bench [--seconds 2] [--rounds 5] [--concurrency 16]
                                  [--inproc-requests 2000] [--uploads 20] [--upload-mb 200]
                                  [--api-key KEY] [--baseline-root DIR] [--py-spy DIR]

1. Throughput: `POST /v1/reason` on a cached video (the gateway app with an instant
   ScriptedBackend; after the first request every answer is a cache hit, so no decode
   and no inference) versus a bare FastAPI endpoint that parses the same JSON body and
   returns the gateway's own response bytes (`bench.asgi_harness.bare_app`), each in
   its own uvicorn process with the same settings (1 worker, log level warning, no
   access log), driven by the same httpx load loop. Each server binds port 0 itself
   and reports the port the kernel gave it (no port is picked first and raced for).
   Method: all are warmed, then `--rounds` rounds; each round runs, endpoints
   alternating (A B, then B A next round): 16 concurrent clients for `--seconds`, one
   client at a time for half that, and the IN-PROCESS ASGI harness
   (`bench.asgi_harness`: both apps called in this process without sockets,
   `--inproc-requests` each, CPU time per request). Reported: medians over rounds and
   the median and range of the per-round ratios. The server process's CPU time per
   request is measured too (psutil): on a small machine the Python load generator
   saturates before the servers do, and then req/s compares the client with itself,
   while CPU per request still compares the servers. The load average is printed at
   the start and the end. Targets: server CPU per request <= 1.2x bare (issue 17),
   throughput >= 0.5x bare, p50 overhead < 10 ms.
   `--api-key` (default: one key) runs the gateway with API-key auth on, as deployed
   (`--api-key ""`: auth off); every client sends the header (the bare endpoint
   ignores it). `--baseline-root DIR` adds a third server, the gateway of another
   checkout of this repository (e.g. `git archive <commit> | tar -x -C DIR`), measured
   in the same interleaved rounds, so a change is judged before/after in ONE run.
   `--py-spy DIR` writes a py-spy flame graph (SVG) of each server over the rounds
   (`pip install py-spy`; the sampling costs CPU, so take ratios from a run without it).
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

ROOT = Path(__file__).resolve().parents[1]
TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")


# ---- servers (run in child processes) -------------------------------------------------
def serve(kind: str, port_file: str, data_dir: str, body_file: str) -> None:
    """Run one server on a port the kernel picks as it binds (port 0, never a port
    chosen earlier and maybe taken since); the port is written to `port_file`."""
    import socket

    import uvicorn

    if kind == "gateway":
        from service.app import create_app
        from service.inference.doubles import ScriptedBackend
        from service.settings import Settings

        settings = Settings(_env_file=None, data_dir=Path(data_dir), env="dev",  # type: ignore[call-arg]
                            log_level="warning", max_concurrency=64, max_queue=1024)
        app = create_app(settings, backend=ScriptedBackend([TRACE]))
    else:
        from bench.asgi_harness import bare_app

        app = bare_app(Path(body_file).read_bytes() if body_file else b"{}")
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    tmp = Path(port_file + ".part")
    tmp.write_text(str(sock.getsockname()[1]), encoding="ascii")
    tmp.replace(port_file)
    config = uvicorn.Config(app, log_level="warning", access_log=False)
    uvicorn.Server(config).run(sockets=[sock])


def start(kind: str, data_dir: str, body_file: str = "", *, root: Path = ROOT,
          api_key: str = "") -> tuple[subprocess.Popen[bytes], int]:
    """A server process and its port; `root` is the checkout whose code it runs
    (`python -m` from there puts that checkout first on sys.path). The key reaches the
    gateway's settings through its environment (O3_API_KEYS), so an older checkout
    gets it too. An older checkout that knows only `--port` gets a port chosen here
    (`free_port`, the old way)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("O3_")}
    env["O3_API_KEYS"] = api_key
    # one id secret for every gateway: a video uploaded to each gets the same
    # (tenant-scoped) id, so one payload serves them all
    env["O3_ID_SECRET"] = "gateway-bench"
    Path(data_dir).mkdir(parents=True, exist_ok=True)
    port_file = Path(data_dir) / "port"
    port_file.unlink(missing_ok=True)
    new_style = "--port-file" in (root / "bench" / "gateway_bench.py").read_text()
    where = ["--port-file", str(port_file)] if new_style else ["--port", str(free_port())]
    proc = subprocess.Popen([sys.executable, "-m", "bench.gateway_bench", "--serve", kind,
                             *where, "--data-dir", data_dir, "--body-file", body_file],
                            cwd=root, env=env)
    port = 0 if new_style else int(where[1])
    for _ in range(600):
        if proc.poll() is not None:
            raise RuntimeError(f"{kind} server exited with {proc.returncode}")
        if not port and port_file.exists():
            port = int(port_file.read_text(encoding="ascii"))
        if port:
            try:
                httpx.get(f"http://127.0.0.1:{port}/openapi.json", timeout=1)
                return proc, port
            except httpx.HTTPError:
                pass
        time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"{kind} server did not start")


def free_port() -> int:
    """A port free now (for older checkouts only: another process may take it)."""
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


def interleaved(targets: dict[str, tuple[str, int]], payload: dict[str, Any], rounds: int,
                seconds: float, concurrency: int, *, flip: bool = False
                ) -> dict[str, list[Round]]:
    """`rounds` load runs per endpoint, alternating endpoints (AB, BA, AB, ...; BA
    first with `flip`), so machine warm-up and background-load drifts hit both alike."""
    out: dict[str, list[Round]] = {name: [] for name in targets}
    names = list(targets)
    for i in range(rounds):
        for name in names if (i % 2 == 0) != flip else names[::-1]:
            url, pid = targets[name]
            out[name].append(measured(url, pid, payload, seconds, concurrency))
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
    goal = "; target <= 1.2x" if target else ""
    print(f"  server CPU per request ratio: median {med(cpu):.2f}x "
          f"(rounds {min(cpu):.2f}..{max(cpu):.2f}{goal}); capacity ratio if the server "
          f"were the bottleneck: {1 / med(cpu):.2f}x")


def throughput(args: argparse.Namespace, tmp: Path) -> None:
    from service.video.synth import write_moving_square

    video = tmp / "square.mp4"
    write_moving_square(video, duration=2.0)
    HEADERS.update({"Authorization": f"Bearer {args.api_key}"} if args.api_key else {})
    servers: dict[str, tuple[subprocess.Popen[bytes], str]] = {}
    print(f"load average at start: {os.getloadavg()}", flush=True)
    try:
        gws = [("/v1/reason (cached)", ROOT)]
        if args.baseline_root:
            gws.insert(0, ("/v1/reason baseline", Path(args.baseline_root).resolve()))
        for name, root in gws:
            proc, port = start("gateway", str(tmp / name.replace("/", "_")), root=root,
                               api_key=args.api_key)
            servers[name] = (proc, f"http://127.0.0.1:{port}")
        payload, first = prime(video, [url for _, url in servers.values()])
        body_file = tmp / "body.json"
        body_file.write_bytes(first)
        bare, bport = start("bare", str(tmp / "bare"), str(body_file))
        servers = {"bare FastAPI": (bare, f"http://127.0.0.1:{bport}"), **servers}
        targets = {name: (url + ("/bare" if proc is bare else "/v1/reason"), proc.pid)
                   for name, (proc, url) in servers.items()}
        for url, _ in targets.values():  # warm all (connections, first-call imports)
            asyncio.run(load(url, payload, 1.0, 2))
        inproc = InProcess(tmp / "inproc", args.api_key) if args.inproc_requests else None
        spies = flame_graphs(targets, Path(args.py_spy)) if args.py_spy else []
        loaded, single, inproc_res = run_rounds(targets, payload, args, inproc)
        stop_flame_graphs(spies)
    finally:
        for proc, _ in servers.values():
            proc.terminate()
    print(f"\n== throughput: response {len(first)} bytes, {args.seconds:g} s per "
          f"round and endpoint, auth {'on' if args.api_key else 'off'}; load average "
          f"now {os.getloadavg()} ==")
    report(f"{args.concurrency} concurrent clients", loaded)
    report("one client at a time (latency without queueing)", single)
    if inproc_res is not None:
        from bench.asgi_harness import report as inproc_report

        inproc_report(inproc_res)


def flame_graphs(targets: dict[str, tuple[str, int]], out: Path
                 ) -> list[subprocess.Popen[bytes]]:
    """py-spy recorders (`pip install py-spy`) on every server for the rounds: one SVG
    flame graph per server under `out` (sampling slows the servers: use a separate run
    for the ratios)."""
    out.mkdir(parents=True, exist_ok=True)
    spies = []
    for name, (_, pid) in targets.items():
        svg = out / (name.strip("/").split(" ")[0].replace("/", "_") + ".svg")
        spies.append(subprocess.Popen([  # --gil: only the thread running Python, not
            "py-spy", "record", "--pid", str(pid), "--rate", "250", "--gil",  # idle pools
            "--output", str(svg), "--format", "flamegraph"]))
    time.sleep(1.0)  # attached before the first round
    return spies


def stop_flame_graphs(spies: list[subprocess.Popen[bytes]]) -> None:
    import signal

    for spy in spies:
        spy.send_signal(signal.SIGINT)  # py-spy writes its SVG on SIGINT
    for spy in spies:
        spy.wait(timeout=60)


class InProcess:
    """The in-process ASGI harness (bench.asgi_harness) on its own event loop."""

    def __init__(self, tmp: Path, key: str) -> None:
        from bench.asgi_harness import prepare

        tmp.mkdir(parents=True, exist_ok=True)
        self.key = key
        self.loop = asyncio.new_event_loop()
        self.prepared, self.lifespan = self.loop.run_until_complete(prepare(tmp, key))

    def round(self, n: int, flip: bool) -> dict[str, float]:
        from bench.asgi_harness import cpu_per_request

        p = self.prepared
        order = [("bare FastAPI", p.bare, "/bare"),
                 ("/v1/reason (cached)", p.gateway, "/v1/reason")]
        out = {}
        for name, app, path in (order[::-1] if flip else order):
            out[name] = 1e6 * self.loop.run_until_complete(
                cpu_per_request(app, path, p.body, self.key, n, {}))
        return out

    def close(self) -> None:
        self.loop.run_until_complete(self.lifespan.__aexit__(None, None, None))
        self.loop.close()


def run_rounds(targets: dict[str, tuple[str, int]], payload: dict[str, Any],
               args: argparse.Namespace, inproc: InProcess | None
               ) -> tuple[dict[str, list[Round]], dict[str, list[Round]],
                          dict[str, list[float]] | None]:
    """Socket rounds (16 clients, then 1) and in-process rounds, interleaved: round i
    runs every kind once, endpoints alternating AB / BA."""
    loaded: dict[str, list[Round]] = {name: [] for name in targets}
    single: dict[str, list[Round]] = {name: [] for name in targets}
    res: dict[str, list[float]] | None = None
    if inproc is not None:
        inproc.round(200, False)  # warm
        res = {"bare FastAPI": [], "/v1/reason (cached)": []}
    try:
        for i in range(args.rounds):
            for name, got in interleaved(targets, payload, 1, args.seconds,
                                         args.concurrency, flip=i % 2 == 1).items():
                loaded[name] += got
            for name, got in interleaved(targets, payload, 1, args.seconds / 2, 1,
                                         flip=i % 2 == 1).items():
                single[name] += got
            if inproc is not None and res is not None:
                for name, us in inproc.round(args.inproc_requests, i % 2 == 1).items():
                    res[name].append(us)
    finally:
        if inproc is not None:
            inproc.close()
    return loaded, single, res


def prime(video: Path, bases: list[str]) -> tuple[dict[str, Any], bytes]:
    """Upload the video to every gateway and compute the answer once (then it is
    cached); the payload and the (last) gateway's response bytes."""
    payload: dict[str, Any] = {}
    first = b""
    for base in bases:
        with video.open("rb") as f:
            vid = httpx.post(f"{base}/v1/videos", files={"file": ("v.mp4", f)},
                             headers=HEADERS).json()["id"]
        payload = {"video_id": vid, "question": "Which? A. x B. y", "n": 8}
        r = httpx.post(f"{base}/v1/reason", json=payload, headers=HEADERS, timeout=60)
        r.raise_for_status()
        first = r.content
    return payload, first


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
    gw, port = start("gateway", str(tmp / "gw-mem"), api_key=args.api_key)
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
          f"growth {(peak - base) / 2**20:.0f} MB  (target < 200 MB); load average "
          f"{os.getloadavg()}")


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
    p.add_argument("--py-spy", metavar="DIR",
                   help="record a py-spy flame graph of each server during the rounds")
    p.add_argument("--serve", choices=["gateway", "bare"], help=argparse.SUPPRESS)
    p.add_argument("--inproc-requests", type=int, default=2000,
                   help="requests per in-process ASGI round (0 = skip that harness)")
    p.add_argument("--port-file", help=argparse.SUPPRESS)
    p.add_argument("--data-dir", help=argparse.SUPPRESS)
    p.add_argument("--body-file", default="", help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.serve:
        serve(args.serve, args.port_file, args.data_dir, args.body_file)
        return
    with tempfile.TemporaryDirectory(prefix="gateway-bench-") as tmp:
        if "throughput" not in args.skip:
            throughput(args, Path(tmp))
        if "memory" not in args.skip:
            memory(args, Path(tmp))
    print(json.dumps({"cpu_count": os.cpu_count()}))


if __name__ == "__main__":
    main()
