"""Needle benchmark: find a 3-5 s event in a 10/30/60-minute video; uniform vs search.

    python -m bench.needle_bench                       # 10, 30, 60 min x 20 trials
    python -m bench.needle_bench --minutes 10 --trials 3   # a quick run

Per trial a generated video (`service.video.needle`: 160x96, 2 fps, a keyframe every
2 s, a blue square drifting, a red circle visible for 3-5 s at a seeded random time;
cached under artifacts/bench/needle/) is asked "When does the red circle appear?" by
three methods, in one process, with the same model: the perceptive double
(`service.inference.perceptive`, `--hallucination` of its traces hallucinate),
N=`--n` traces, confidence voting:

- uniform16 / uniform64: today's path (`sample_video` with 16 / 64 frames + Pipeline);
- search: `run_search` (scan every chunk, zoom into the best windows, vote) through a
  fresh frame cache per trial (no reuse between trials or methods).

Columns: hit rate (the answer's time inside the event +- 1 s), box IoU at the cited
time (the answer's evidence box in original pixels vs the truth; mean over hits),
frames decoded and the floor the keyframe layout allows for the frames fed (exact,
from a demux-only packet scan), backend calls (sample + score), prompt tokens
(the double counts words + one token per 28x28 px of each image), wall seconds.
Means over trials. JSON of every trial goes to `--out`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import re
import statistics
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from service.grounding.geometry import box_iou
from service.inference.perceptive.double import PerceptiveDouble
from service.inference.pipeline import Pipeline
from service.inference.search.runner import run_search
from service.inference.search.types import SearchOptions
from service.inference.types import PipelineOptions, Verdict
from service.video.framecache import CachedVideoFrames, FrameCache
from service.video.index import PacketScan, decode_floor, scan_packets
from service.video.needle import (
    NEEDLE,
    QUESTION,
    NeedleSpec,
    NeedleTruth,
    needle_truth,
    write_needle_video,
)
from service.video.policy import FramePolicy, fit_size
from service.video.probe import probe_video
from service.video.sampler import sample_video

CACHE = Path("artifacts/bench/needle")
PIXELS = (4 * 28 * 28, 128 * 28 * 28)  # the service's default pixel budget
METHODS = ("uniform16", "uniform64", "search")
_TIME = re.compile(r"at (\d+(?:\.\d+)?)s")


@dataclass(frozen=True)
class Trial:
    minutes: int
    trial: int
    method: str
    event: tuple[float, float]
    answer: str | None
    hit: bool
    iou: float | None
    decoded: int
    floor: int
    calls: int
    prompt_tokens: int
    wall_s: float


def video_for(minutes: int, trial: int, seed: int, gop_s: float = 2.0
              ) -> tuple[Path, NeedleTruth, float]:
    """The trial's video (generated once, then cached), its truth, generation seconds."""
    spec = NeedleSpec(duration=minutes * 60.0, seed=seed * 100_000 + minutes * 1000 + trial,
                      gop_s=gop_s)
    CACHE.mkdir(parents=True, exist_ok=True)
    gop = "" if gop_s == 2.0 else f"-gop{gop_s:g}"
    path = CACHE / f"needle-{minutes}m-s{spec.seed}{gop}.mp4"
    tmp = path.with_suffix(".tmp.mp4")
    t0 = time.perf_counter()
    if path.exists():
        return path, needle_truth(spec), 0.0
    truth = write_needle_video(tmp, spec)
    tmp.rename(path)
    return path, truth, time.perf_counter() - t0


def judge(v: Verdict, truth: NeedleTruth) -> tuple[bool, float | None]:
    m = _TIME.search(v.answer or "")
    hit = m is not None and truth.contains(float(m.group(1)), slack=1.0)
    if not hit:
        return False, None
    ev = [e for e in v.evidence if e.name == NEEDLE and truth.contains(e.time, slack=1.0)]
    return True, max((box_iou(e.box_orig, truth.box) for e in ev), default=0.0)


async def uniform(path: Path, truth: NeedleTruth, frames: int, opts: PipelineOptions,
                  scan: PacketScan, hallucination: float) -> tuple[Verdict, int, int, int]:
    sampled = await asyncio.to_thread(sample_video, path, FramePolicy(num_frames=frames))
    double = PerceptiveDouble(hallucination=hallucination)
    v = await Pipeline(double).run(sampled.frameset, QUESTION, opts=opts)
    floor = decode_floor(scan, list(sampled.frameset.meta.times))
    return (v, sampled.stats.decoded_frames, floor,
            double.sample_calls + double.score_calls)


async def search(path: Path, truth: NeedleTruth, opts: PipelineOptions, scan: PacketScan,
                 hallucination: float, sopts: SearchOptions) -> tuple[Verdict, int, int, int, int]:
    info = probe_video(path)
    fed = fit_size(*info.display_size, *PIXELS)
    src = CachedVideoFrames(path, info, fed, FrameCache(1 << 30), path.name)
    double = PerceptiveDouble(hallucination=hallucination)
    out = await run_search(Pipeline(double), src, QUESTION, opts=opts, search=sopts)
    floor = decode_floor(scan, list(src.fed_times()))
    return (out.verdict, out.record.frames_decoded, floor,
            double.sample_calls + double.score_calls, out.record.scan_usage.prompt_tokens)


async def run_trial(minutes: int, trial: int, args: argparse.Namespace
                    ) -> tuple[list[Trial], float]:
    path, truth, gen_s = video_for(minutes, trial, args.seed, args.gop_s)
    scan = scan_packets(path)
    opts = PipelineOptions(n=args.n)
    out = []
    for method in args.methods:
        t0 = time.perf_counter()
        extra = 0
        if method == "search":
            v, decoded, floor, calls, extra = await search(
                path, truth, opts, scan, args.hallucination,
                SearchOptions(scan_samples=args.scan_samples,
                              keyframes_only=not args.no_keyframes))
        else:
            v, decoded, floor, calls = await uniform(
                path, truth, int(method[7:]), opts, scan, args.hallucination)
        wall = time.perf_counter() - t0
        hit, iou = judge(v, truth)
        out.append(Trial(minutes, trial, method, (truth.start, truth.end), v.answer, hit, iou,
                         decoded, floor, calls, v.usage.prompt_tokens + extra, wall))
    return out, gen_s


def summarise(trials: list[Trial]) -> list[str]:
    lines = [f"{'min':>4} {'method':<10} {'trials':>6} {'hit':>5} {'IoU@hit':>8} "
             f"{'decoded':>8} {'floor':>7} {'dec/fl':>6} {'dec/min':>7} {'calls':>6} "
             f"{'prompt tok':>10} {'wall s':>7}"]
    for minutes in sorted({t.minutes for t in trials}):
        for method in METHODS:
            rows = [t for t in trials if t.minutes == minutes and t.method == method]
            if not rows:
                continue
            ious = [t.iou for t in rows if t.iou is not None]
            dec = statistics.mean(t.decoded for t in rows)
            floor = statistics.mean(t.floor for t in rows)
            lines.append(
                f"{minutes:>4} {method:<10} {len(rows):>6} "
                f"{sum(t.hit for t in rows) / len(rows):>5.2f} "
                f"{(statistics.mean(ious) if ious else float('nan')):>8.3f} "
                f"{dec:>8.0f} {floor:>7.0f} {dec / max(1.0, floor):>6.3f} {dec / minutes:>7.1f} "
                f"{statistics.mean(t.calls for t in rows):>6.1f} "
                f"{statistics.mean(t.prompt_tokens for t in rows):>10.0f} "
                f"{statistics.mean(t.wall_s for t in rows):>7.2f}")
    return lines


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.needle_bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--minutes", type=int, nargs="+", default=[10, 30, 60])
    p.add_argument("--trials", type=int, default=20)
    p.add_argument("--n", type=int, default=8, help="traces voted over (all methods)")
    p.add_argument("--hallucination", type=float, default=0.2)
    p.add_argument("--scan-samples", type=int, default=SearchOptions().scan_samples,
                   help="search: traces per chunk (the service default)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--gop-s", type=float, default=2.0, help="seconds between keyframes")
    p.add_argument("--no-keyframes", action="store_true",
                   help="search: do not snap scan frames to keyframes")
    p.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    p.add_argument("--out", type=Path, default=Path("artifacts/bench/needle.json"))
    args = p.parse_args(argv)
    trials: list[Trial] = []
    gen_total = 0.0
    t0 = time.perf_counter()
    for minutes in args.minutes:
        for i in range(args.trials):
            got, gen_s = asyncio.run(run_trial(minutes, i, args))
            trials.extend(got)
            gen_total += gen_s
            print(f"  {minutes} min trial {i}: " + "  ".join(
                f"{t.method} {'HIT' if t.hit else 'miss'}" for t in got), flush=True)
    lines = summarise(trials)
    print("\n".join(lines))
    print(f"n={args.n} hallucination={args.hallucination} seed={args.seed} "
          f"scan_samples={args.scan_samples} gop_s={args.gop_s:g} "
          f"keyframes_only={not args.no_keyframes}; "
          f"video generation {gen_total:.1f} s (0 when cached), total "
          f"{time.perf_counter() - t0:.1f} s")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps([asdict(t) for t in trials], indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
