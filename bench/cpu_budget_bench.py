"""Local backend on a busy CPU: the same n=8 request quiet and beside CPU hogs.

    python -m bench.cpu_budget_bench [--threads auto 1 torch-default] [--rounds 5]
                                     [--n 8] [--frames 16] [--max-tokens 64]

Each thread configuration lives in its own process (torch sizes its inter-op pool
once per process), started together: each loads the local transformers backend on the
random tiny checkpoint and warms up. Then ROUNDS rounds: in each, every configuration
runs the SAME request (same prompt, 16 frames of 420x224, n=8, temperature 1, fixed
seed: identical tokens every time) once quiet and once with one CPU hog per available
core (`while True: pass` processes, started before and killed after the timed call),
configurations and quiet/hog order alternating by round, so load drifts hit all alike.
Reported per configuration: the threads each call used (quiet / hogged), median quiet
and hogged wall time,
the slowdown (hogged / quiet, per round: median and range) and the generated tokens.

Configurations: `auto` = the service's default (`O3_THREADS_PER_PROCESS=0`: the cores
available but one, shared by the workers, here one worker: 1 thread on 2 cores); a
number = exactly that many threads (`2` here = the earlier default, cores / workers);
`torch-default` = torch's pools left as torch sizes them and OpenMP's default (spinning) wait policy
(what the backend did before the setting); `CONFIG+passive` / `CONFIG+spin` force
`OMP_WAIT_POLICY` (the service's default is passive, `prefer_passive_waits`).
The machine's load average is printed before and after: "quiet" means no hog of
ours, not an idle machine. Target (issue 17): slowdown <= 1.6x for the default.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
TARGET = 1.6


def _hog() -> None:
    while True:
        pass


def start_hogs(count: int) -> list[mp.process.BaseProcess]:
    ctx = mp.get_context("fork")
    hogs = [ctx.Process(target=_hog, daemon=True) for _ in range(count)]
    for h in hogs:
        h.start()
    time.sleep(0.3)  # let them reach full speed
    return hogs


def stop_hogs(hogs: list[mp.process.BaseProcess]) -> None:
    for h in hogs:
        h.kill()
    for h in hogs:
        h.join()


def child(args: argparse.Namespace) -> None:
    """One configuration in this (fresh) process: loads, warms up, then runs the request
    once per line read from stdin and answers each with a JSON line."""
    from service.grounding.prompt import build_prompt
    from service.inference import local_hf
    from service.inference.backend import SamplingParams
    from tests.support.fixtures import make_frames

    shown = 0
    if args.child == "torch-default":
        import torch  # first: OpenMP keeps its spinning default

        local_hf.apply_torch_threads = lambda threads, interop=None: None  # as before
        shown = torch.get_num_threads()
    threads = int(args.child) if args.child.isdigit() else 0
    backend = local_hf.LocalHFBackend(args.checkpoint, device="cpu", threads=threads)
    prompt = build_prompt("What is moving, and where?", [i * 2.0 for i in range(args.frames)])
    images = make_frames(args.frames)
    sampling = SamplingParams(temperature=1.0, max_tokens=args.max_tokens, seed=7)

    def once() -> tuple[float, int]:
        t0 = time.perf_counter()
        result = asyncio.run(backend.sample(prompt, images, args.n, sampling))
        return time.perf_counter() - t0, result.usage.completion_tokens

    once()  # warm-up: load, first forward
    print(json.dumps({"threads": shown or backend.threads}), flush=True)
    for _ in sys.stdin:
        seconds, tokens = once()
        used = shown or backend.threads
        print(json.dumps({"seconds": seconds, "tokens": tokens, "threads": used}), flush=True)


class Config:
    """A child process holding one configuration's loaded backend."""

    def __init__(self, config: str, checkpoint: Path, args: argparse.Namespace) -> None:
        self.name = config
        base, _, policy = config.partition("+")
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("O3_", "OMP_", "MKL_"))}
        env["PYTHONPATH"] = str(ROOT)
        if policy:  # passive: OpenMP threads sleep at barriers; spin: they busy-wait
            env["OMP_WAIT_POLICY"] = {"passive": "PASSIVE", "spin": "ACTIVE"}[policy]
        cmd = [sys.executable, "-m", "bench.cpu_budget_bench", "--child", base,
               "--checkpoint", str(checkpoint), "--n", str(args.n), "--frames",
               str(args.frames), "--max-tokens", str(args.max_tokens)]
        self.proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True)
        self.threads = int(self._reply()["threads"])
        self.quiet: list[float] = []
        self.hogged: list[float] = []
        self.tokens: set[int] = set()
        self.used: dict[str, set[int]] = {"quiet": set(), "hog": set()}

    def _reply(self) -> dict[str, Any]:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError(f"{self.name}: child exited ({self.proc.wait()})")
        reply: dict[str, Any] = json.loads(line)
        return reply

    def run(self) -> tuple[float, int, int]:
        assert self.proc.stdin is not None
        self.proc.stdin.write("go\n")
        self.proc.stdin.flush()
        reply = self._reply()
        return float(reply["seconds"]), int(reply["tokens"]), int(reply["threads"])

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        self.proc.wait(timeout=60)


def measure(configs: list[Config], rounds: int, hog_count: int) -> None:
    """Round r: every configuration quiet and hogged (orders alternating by round)."""
    for r in range(rounds):
        for cfg in configs if r % 2 == 0 else configs[::-1]:
            for kind in (("quiet", "hog") if r % 2 == 0 else ("hog", "quiet")):
                hogs = start_hogs(hog_count) if kind == "hog" else []
                try:
                    seconds, tokens, used = cfg.run()
                finally:
                    stop_hogs(hogs)
                (cfg.hogged if kind == "hog" else cfg.quiet).append(seconds)
                cfg.tokens.add(tokens)
                cfg.used[kind].add(used)
        print(f"  round {r + 1}/{rounds} done; load {os.getloadavg()[0]:.1f}", flush=True)


def report(configs: list[Config]) -> None:
    med = statistics.median
    print(f"{'config':<15}{'threads q/h':>12}{'quiet s':>9}{'hogged s':>10}"
          f"{'slowdown':>10}{'rounds':>14}{'tokens':>12}")
    for cfg in configs:
        ratios = [h / q for q, h in zip(cfg.quiet, cfg.hogged, strict=True)]
        used = "/".join(",".join(map(str, sorted(cfg.used[k]))) for k in ("quiet", "hog"))
        print(f"{cfg.name:<15}{used:>12}{med(cfg.quiet):>9.3f}{med(cfg.hogged):>10.3f}"
              f"{med(cfg.hogged) / med(cfg.quiet):>9.2f}x"
              f"{min(ratios):>7.2f}..{max(ratios):<5.2f}{sorted(cfg.tokens)!s:>12}")
    auto = next((c for c in configs if c.name == "auto"), None)
    if auto is not None:
        slow = med(auto.hogged) / med(auto.quiet)
        print(f"[{'PASS' if slow <= TARGET else 'FAIL'}] default (auto) slowdown "
              f"{slow:.2f}x <= {TARGET}x with one hog per core")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.cpu_budget_bench",
                                description=__doc__.split("\n\n")[0])
    p.add_argument("--threads", nargs="+", default=["auto", "1", "torch-default"])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--max-tokens", type=int, default=64)
    p.add_argument("--checkpoint", type=Path, help="default: build the tiny one")
    p.add_argument("--child", help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        child(args)
        return 0
    from service.inference.cpu_budget import cores_available

    hog_count = cores_available()
    print(f"load average before: {os.getloadavg()}; cores available: {hog_count} "
          "(= hogs)", flush=True)
    with tempfile.TemporaryDirectory(prefix="o3-cpu-bench-") as scratch:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from service.inference.tiny import build_tiny_checkpoint

            checkpoint = build_tiny_checkpoint(Path(scratch) / "tiny", seed=0)
        configs = [Config(name, checkpoint, args) for name in args.threads]
        try:
            measure(configs, args.rounds, hog_count)
        finally:
            for cfg in configs:
                cfg.close()
    print(f"load average after: {os.getloadavg()}")
    print(f"n={args.n}, {args.frames} frames of 420x224, max_tokens={args.max_tokens}, "
          f"{args.rounds} rounds, every configuration quiet and hogged in each, medians")
    report(configs)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
