"""Backend benchmark: N samples in ONE call versus N single calls (issue 3, bench a).

`python -m bench.backend_bench [--checkpoint DIR] [--n 8] [--frames 16] [--max-tokens 64]
[--repeats 5]`

The local transformers backend on the tiny checkpoint (built into a temp directory
unless `--checkpoint` is given), the same prompt both ways: 16 frames at the training
size (420x224, SPEC section 1), a grounded free-form question, temperature 1. One
`sample(n=N)` call (the prompt and its images prefilled ONCE, the KV cache repeated N
times, one `generate` over the N rows: `local_hf.prefill_once`) against N
`sample(n=1)` calls in a row, each with its own prefill. Each repeat runs both,
interleaved, after one warm-up of each; the medians and their ratio are printed side
by side. Target: ratio <= 0.5. The machine's load average is printed with them.

Generated token counts are printed too: a random model may stop early on an
end-of-sequence token, so a run is only comparable when both columns generated about
the same number of tokens.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path

from PIL import Image, ImageDraw

from service.grounding.prompt import build_prompt
from service.inference.backend import SamplingParams, Usage
from service.inference.local_hf import LocalHFBackend

TARGET = 0.5


def frames(n: int, size: tuple[int, int] = (420, 224)) -> list[Image.Image]:
    """n distinct frames: a square crossing a grey background."""
    out = []
    for i in range(n):
        image = Image.new("RGB", size, (90, 90, 90))
        x = int((size[0] - 40) * i / max(1, n - 1))
        ImageDraw.Draw(image).rectangle([x, 90, x + 40, 130], fill=(220, 30, 30))
        out.append(image)
    return out


async def _one_call(backend: LocalHFBackend, args: argparse.Namespace, seed: int) -> Usage:
    prompt = build_prompt("What is moving, and where?", [i * 2.0 for i in range(args.frames)])
    sampling = SamplingParams(temperature=1.0, max_tokens=args.max_tokens, seed=seed)
    result = await backend.sample(prompt, frames(args.frames), args.n, sampling)
    return result.usage


async def _single_calls(backend: LocalHFBackend, args: argparse.Namespace, seed: int) -> Usage:
    prompt = build_prompt("What is moving, and where?", [i * 2.0 for i in range(args.frames)])
    images = frames(args.frames)
    total = Usage()
    for k in range(args.n):
        sampling = SamplingParams(temperature=1.0, max_tokens=args.max_tokens, seed=seed + k)
        total = total + (await backend.sample(prompt, images, 1, sampling)).usage
    return total


async def _timed(run: object, *call_args: object) -> tuple[float, Usage]:
    start = time.perf_counter()
    usage = await run(*call_args)  # type: ignore[operator]
    return time.perf_counter() - start, usage


async def bench(backend: LocalHFBackend, args: argparse.Namespace) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {"one call (n=N)": [], "N single calls": []}
    tokens: dict[str, list[float]] = {"one call (n=N)": [], "N single calls": []}
    await _one_call(backend, args, 0)   # warm-up: load, first forward
    await _single_calls(backend, args, 0)
    for r in range(args.repeats):
        for name, run in (("one call (n=N)", _one_call), ("N single calls", _single_calls)):
            seconds, usage = await _timed(run, backend, args, 100 + r)
            times[name].append(seconds)
            tokens[name].append(usage.completion_tokens)
    _report(times, tokens, backend, args)
    return times


def _report(times: dict[str, list[float]], tokens: dict[str, list[float]],
            backend: LocalHFBackend, args: argparse.Namespace) -> None:
    print(f"load average: {os.getloadavg()}")
    print(f"checkpoint: {backend.info.path} (random tiny model: "
          f"{backend.info.random_tiny_model})")
    print(f"N={args.n} samples, {args.frames} frames of 420x224, max_tokens="
          f"{args.max_tokens}, {args.repeats} repeats, medians")
    print(f"{'method':<18}{'median s':>10}{'min s':>8}{'max s':>8}{'gen tokens':>12}")
    for name, values in times.items():
        print(f"{name:<18}{statistics.median(values):>10.3f}{min(values):>8.3f}"
              f"{max(values):>8.3f}{statistics.median(tokens[name]):>12.0f}")
    ratio = statistics.median(times["one call (n=N)"]) / statistics.median(
        times["N single calls"])
    verdict = "PASS" if ratio <= TARGET else "FAIL"
    print(f"ratio one-call / single-calls = {ratio:.3f} (target <= {TARGET}): {verdict}")


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m bench.backend_bench",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("--checkpoint", type=Path, help="default: build the tiny one")
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--frames", type=int, default=16)
    parser.add_argument("--max-tokens", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--device", default="auto")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    with tempfile.TemporaryDirectory(prefix="o3-bench-") as scratch:
        checkpoint = args.checkpoint
        if checkpoint is None:
            from service.inference.tiny import build_tiny_checkpoint

            checkpoint = build_tiny_checkpoint(Path(scratch) / "tiny", seed=0)
        backend = LocalHFBackend(checkpoint, device=args.device)
        asyncio.run(bench(backend, args))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
