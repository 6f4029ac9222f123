"""Local backend on a busy CPU: the same n=8 request quiet and beside CPU hogs.

    python -m bench.cpu_budget_bench [--threads auto 1 torch-default] [--rounds 5]
                                     [--n 8] [--frames 16] [--max-tokens 64]

For each thread configuration a fresh process (torch sizes its inter-op pool once per
process) loads the local transformers backend on the random tiny checkpoint and, after
one warm-up, runs ROUNDS of the SAME request (same prompt, 16 frames of 420x224, n=8,
temperature 1, fixed seed: identical tokens every time) alternately quiet and with one
CPU hog per available core (`while True: pass` processes, started before and killed
after the timed call). Reported per configuration: median quiet and hogged wall time,
the slowdown (hogged / quiet, per round: median and range) and the generated tokens.

Configurations: `auto` = the service's default (`O3_THREADS_PER_PROCESS=0`: cores
available / workers, here one worker); a number = that many threads; `torch-default` =
torch's pools left as torch sizes them and OpenMP's default (spinning) wait policy
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


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One configuration, measured in this (fresh) process."""
    from service.grounding.prompt import build_prompt
    from service.inference import local_hf
    from service.inference.backend import SamplingParams
    from service.inference.cpu_budget import cores_available
    from tests.support.fixtures import make_frames

    if args.child == "torch-default":
        import torch  # first: OpenMP keeps its spinning default

        local_hf.apply_torch_threads = lambda threads: None  # as before the setting
        threads = 0
    else:
        threads = 0 if args.child == "auto" else int(args.child)
    backend = local_hf.LocalHFBackend(args.checkpoint, device="cpu", threads=threads)
    prompt = build_prompt("What is moving, and where?", [i * 2.0 for i in range(args.frames)])
    images = make_frames(args.frames)
    sampling = SamplingParams(temperature=1.0, max_tokens=args.max_tokens, seed=7)

    def once() -> tuple[float, int]:
        t0 = time.perf_counter()
        result = asyncio.run(backend.sample(prompt, images, args.n, sampling))
        return time.perf_counter() - t0, result.usage.completion_tokens

    once()  # warm-up: load, first forward
    hog_count = cores_available()
    quiet: list[float] = []
    hogged: list[float] = []
    tokens: set[int] = set()
    for r in range(args.rounds):
        for kind in (("quiet", "hog") if r % 2 == 0 else ("hog", "quiet")):
            hogs = start_hogs(hog_count) if kind == "hog" else []
            try:
                seconds, toks = once()
            finally:
                stop_hogs(hogs)
            (hogged if kind == "hog" else quiet).append(seconds)
            tokens.add(toks)
    import torch

    return {"config": args.child, "threads": torch.get_num_threads() if threads == 0 and
            args.child == "torch-default" else backend.threads, "hogs": hog_count,
            "quiet": quiet, "hogged": hogged, "tokens": sorted(tokens)}


def run_config(config: str, checkpoint: Path, args: argparse.Namespace) -> dict[str, Any]:
    cmd = [sys.executable, "-m", "bench.cpu_budget_bench", "--child", config,
           "--checkpoint", str(checkpoint), "--rounds", str(args.rounds), "--n", str(args.n),
           "--frames", str(args.frames), "--max-tokens", str(args.max_tokens)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("O3_", "OMP_", "MKL_"))}
    env["PYTHONPATH"] = str(ROOT)
    base, _, policy = config.partition("+")
    if policy:  # passive: OpenMP threads sleep at barriers; spin: they busy-wait
        env["OMP_WAIT_POLICY"] = {"passive": "PASSIVE", "spin": "ACTIVE"}[policy]
        cmd[cmd.index("--child") + 1] = base
    out = subprocess.run(cmd, cwd=ROOT, env=env, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"{config} failed:\n{out.stderr[-3000:]}")
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    result["config"] = config
    return result


def report(results: list[dict[str, Any]]) -> None:
    med = statistics.median
    print(f"{'config':<15}{'threads':>8}{'hogs':>6}{'quiet s':>9}{'hogged s':>10}"
          f"{'slowdown':>10}{'rounds':>14}{'tokens':>12}")
    for res in results:
        ratios = [h / q for q, h in zip(res["quiet"], res["hogged"], strict=True)]
        print(f"{res['config']:<15}{res['threads']:>8}{res['hogs']:>6}{med(res['quiet']):>9.3f}"
              f"{med(res['hogged']):>10.3f}{med(res['hogged']) / med(res['quiet']):>9.2f}x"
              f"{min(ratios):>7.2f}..{max(ratios):<5.2f}{res['tokens']!s:>12}")
    auto = next((r for r in results if r["config"] == "auto"), None)
    if auto is not None:
        slow = med(auto["hogged"]) / med(auto["quiet"])
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
        print(json.dumps(child(args)))
        return 0
    print(f"load average before: {os.getloadavg()}; cores available: "
          f"{len(os.sched_getaffinity(0))}", flush=True)
    with tempfile.TemporaryDirectory(prefix="o3-cpu-bench-") as scratch:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from training.tiny import build_tiny_checkpoint

            checkpoint = build_tiny_checkpoint(Path(scratch) / "tiny", seed=0)
        results = []
        for config in args.threads:
            results.append(run_config(config, checkpoint, args))
            print(f"  done {config}", flush=True)
    print(f"load average after: {os.getloadavg()}")
    print(f"n={args.n}, {args.frames} frames of 420x224, max_tokens={args.max_tokens}, "
          f"{args.rounds} interleaved rounds (quiet/hog), medians")
    report(results)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
