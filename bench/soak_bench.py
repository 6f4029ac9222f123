"""Soak: mixed traffic from many concurrent clients against a gateway with Redis.

    python -m bench.soak_bench [--duration 300] [--clients 50] [--out FILE]

Starts its own redis-server (a free port, no persistence) and the gateway app in a
child uvicorn process (1 worker, Redis for cache and jobs, two tenants and an admin
key, 2 job workers) on a scripted backend that takes `--infer-ms` per call (the model
is not what is measured; everything around it is: uploads streamed to disk and
probed, cache, admission, jobs through Redis, deletes, tenancy). Then `--clients`
clients loop for `--duration` seconds, each picking an operation at random (seeded):

    upload (new or duplicate bytes)   reason (sync, cached or not)   chat (video://)
    job (async reason, polled to the end)   describe   delete   cross-tenant probe

Printed at the end: requests served, per-operation counts, every status seen, the
number of 5xx, latency p50/p99 (all requests), and the gateway's RSS at start, peak
(sampled every 0.25 s) and end. Targets (issue 14): 0 5xx, RSS growth < 200 MB.
A 404 after a concurrent delete and a 429 at the queue limit are expected answers,
not failures; a status outside EXPECTED is counted as unexpected.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psutil

ROOT = Path(__file__).resolve().parents[1]
TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")
KEYS = {"soak-acme-0123456789": "acme", "soak-globex-0123456789": "globex"}
ADMIN = "soak-admin-0123456789"
EXPECTED = {200, 201, 202, 204, 404, 429}
OPS = (("upload", 15), ("reason", 30), ("chat", 15), ("job", 10), ("describe", 15),
       ("delete", 5), ("cross", 10))


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---- the server (child process) -------------------------------------------------
def serve(port: int, data_dir: str, redis_url: str, infer_ms: float) -> None:
    import uvicorn

    from service.app import create_app
    from service.inference.doubles import ScriptedBackend
    from service.settings import Settings

    settings = Settings(  # type: ignore[call-arg]
        _env_file=None, data_dir=Path(data_dir), env="dev", log_level="warning",
        redis_url=redis_url, job_workers=2, max_concurrency=8, max_queue=64, default_n=2,
        api_key_tenants=",".join(f"{k}={t}" for k, t in KEYS.items()), admin_keys=ADMIN)
    app = create_app(settings, backend=ScriptedBackend([TRACE], delay=infer_ms / 1000))
    uvicorn.run(app, host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_server(port: int, data_dir: Path, redis_url: str, infer_ms: float
                 ) -> subprocess.Popen[bytes]:
    code = (f"from bench.soak_bench import serve; "
            f"serve({port}, {str(data_dir)!r}, {redis_url!r}, {infer_ms})")
    log = (data_dir / "gateway.log").open("wb")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=ROOT, stdout=log,
                            stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        if proc.poll() is not None:
            break
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gateway did not start; see {data_dir / 'gateway.log'}")


def start_redis(workdir: Path) -> tuple[subprocess.Popen[bytes], str]:
    binary = shutil.which("redis-server") or "/usr/bin/redis-server"
    port = free_port()
    proc = subprocess.Popen([binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
                             "--appendonly", "no", "--dir", str(workdir)],
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(0.5)
    return proc, f"redis://127.0.0.1:{port}/0"


# ---- the load -------------------------------------------------------------------
@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    statuses: Counter[int] = field(default_factory=Counter)
    ops: Counter[str] = field(default_factory=Counter)
    unexpected: list[str] = field(default_factory=list)

    def record(self, op: str, r: httpx.Response, seconds: float) -> None:
        self.latencies.append(seconds)
        self.statuses[r.status_code] += 1
        self.ops[op] += 1
        if r.status_code not in EXPECTED and len(self.unexpected) < 20:
            self.unexpected.append(f"{op} {r.status_code} {r.text[:200]}")


class Client:
    def __init__(self, http: httpx.AsyncClient, key: str, videos: list[bytes],
                 rng: random.Random, tally: Tally) -> None:
        self.http, self.rng, self.videos, self.tally = http, rng, videos, tally
        self.headers = {"Authorization": f"Bearer {key}"}
        self.other = {"Authorization": f"Bearer {next(k for k in KEYS if k != key)}"}
        self.ids: list[str] = []

    async def call(self, op: str, method: str, path: str, **kw: Any) -> httpx.Response:
        kw.setdefault("headers", self.headers)
        start = time.perf_counter()
        r = await self.http.request(method, path, **kw)
        self.tally.record(op, r, time.perf_counter() - start)
        return r

    async def step(self) -> None:
        op = self.rng.choices([o for o, _ in OPS], [w for _, w in OPS])[0]
        if op == "upload" or not self.ids:
            await self.upload()
            return
        vid = self.rng.choice(self.ids)
        question = f"what moves? {self.rng.randrange(20)}"  # repeats: some cache hits
        if op == "reason":
            await self.call(op, "POST", "/v1/reason", json={"video_id": vid, "question": question})
        elif op == "chat":
            await self.call(op, "POST", "/v1/chat/completions", json={"model": "m", "messages": [
                {"role": "user", "content": [{"type": "text", "text": question},
                                             {"type": "video_url",
                                              "video_url": {"url": f"video://{vid}"}}]}]})
        elif op == "job":
            await self.job(vid, question)
        elif op == "describe":
            await self.call(op, "GET", f"/v1/videos/{vid}")
        elif op == "delete":
            await self.call(op, "DELETE", f"/v1/videos/{vid}")
            self.ids.remove(vid)
        else:  # another tenant must get 404 for this tenant's video
            r = await self.call(op, "GET", f"/v1/videos/{vid}", headers=self.other)
            if r.status_code != 404:
                self.tally.unexpected.append(f"cross-tenant read answered {r.status_code}")

    async def upload(self) -> None:
        data = self.rng.choice(self.videos)
        r = await self.call("upload", "POST", "/v1/videos",
                            files={"file": ("v.mp4", data, "video/mp4")})
        if r.status_code in (200, 201) and r.json()["id"] not in self.ids:
            self.ids.append(r.json()["id"])

    async def job(self, vid: str, question: str) -> None:
        r = await self.call("job", "POST", "/v1/reason",
                            json={"video_id": vid, "question": question, "async": True})
        if r.status_code != 202:
            return
        job_id = r.json()["job_id"]
        for _ in range(600):
            r = await self.call("job_poll", "GET", f"/v1/jobs/{job_id}")
            if r.status_code != 200 or r.json()["status"] in ("done", "failed", "cancelled"):
                return
            await asyncio.sleep(0.1)


async def drive(url: str, clients: int, duration: float, videos: list[bytes],
                seed: int) -> Tally:
    tally = Tally()
    keys = list(KEYS)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as http:
        end = time.monotonic() + duration

        async def loop(i: int) -> None:
            c = Client(http, keys[i % 2], videos, random.Random(seed + i), tally)
            while time.monotonic() < end:
                try:
                    await c.step()
                except httpx.HTTPError as exc:
                    tally.unexpected.append(f"transport error {type(exc).__name__}: {exc}")
                    await asyncio.sleep(0.1)

        await asyncio.gather(*(loop(i) for i in range(clients)))
    return tally


class RssSampler:
    def __init__(self, pid: int) -> None:
        self.proc = psutil.Process(pid)
        self.start = self.peak = self.proc.memory_info().rss
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(0.25):
            self.peak = max(self.peak, self.proc.memory_info().rss)

    def stop(self) -> tuple[int, int, int]:
        self._stop.set()
        self._thread.join()
        end = self.proc.memory_info().rss
        return self.start, max(self.peak, end), end


def make_videos(workdir: Path, count: int) -> list[bytes]:
    from service.video.synth import write_moving_square

    out = []
    for i in range(count):
        path = workdir / f"v{i}.mp4"
        write_moving_square(path, duration=1.0 + 0.5 * i)
        out.append(path.read_bytes())
    return out


def pct(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100)[int(q) - 1] if len(values) > 1 else values[0]


def report(tally: Tally, rss: tuple[int, int, int], duration: float, clients: int
           ) -> dict[str, Any]:
    mb = 1024 * 1024
    fivexx = sum(n for s, n in tally.statuses.items() if s >= 500)
    return {
        "duration_s": duration, "clients": clients, "requests": len(tally.latencies),
        "req_per_s": round(len(tally.latencies) / duration, 1), "5xx": fivexx,
        "statuses": dict(sorted(tally.statuses.items())), "ops": dict(tally.ops),
        "p50_ms": round(pct(tally.latencies, 50) * 1000, 1),
        "p99_ms": round(pct(tally.latencies, 99) * 1000, 1),
        "rss_start_mb": round(rss[0] / mb), "rss_peak_mb": round(rss[1] / mb),
        "rss_end_mb": round(rss[2] / mb), "rss_growth_mb": round((rss[2] - rss[0]) / mb),
        "unexpected": tally.unexpected,
    }


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--duration", type=float, default=300.0, help="seconds of load")
    p.add_argument("--clients", type=int, default=50)
    p.add_argument("--infer-ms", type=float, default=50.0, help="scripted inference time")
    p.add_argument("--videos", type=int, default=4, help="distinct videos uploaded")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--out", type=Path, default=None, help="also write the JSON here")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="soak-") as tmp:
        work = Path(tmp)
        videos = make_videos(work, args.videos)
        redis_proc, redis_url = start_redis(work)
        port = free_port()
        server = start_server(port, work, redis_url, args.infer_ms)
        try:
            sampler = RssSampler(server.pid)
            tally = asyncio.run(drive(f"http://127.0.0.1:{port}", args.clients, args.duration,
                                      videos, args.seed))
            result = report(tally, sampler.stop(), args.duration, args.clients)
        finally:
            server.terminate()
            server.wait(timeout=30)
            redis_proc.terminate()
            redis_proc.wait(timeout=10)
    text = json.dumps(result, indent=1)
    print(text)
    if args.out:
        args.out.write_text(text)
    ok = result["5xx"] == 0 and result["rss_growth_mb"] < 200 and not result["unexpected"]
    print(f"{'PASS' if ok else 'FAIL'}: 5xx={result['5xx']} (target 0), RSS growth "
          f"{result['rss_growth_mb']} MB (target < 200), unexpected={len(result['unexpected'])}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
