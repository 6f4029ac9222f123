"""Sampler benchmark: our sampler vs decoding everything vs the ffmpeg CLI, side by side.

    python -m bench.sampler_bench              # 10-minute 1280x720 H.264, GOP 250
    python -m bench.sampler_bench --minutes 1  # a quick run

One process drives every method on the same generated video (cached under
artifacts/bench/), at 16 and 256 frames, the same frame times and the same fed size:

- ours:       `sample_video` (probe + keyframe-aware decode + resize; disjoint GOP
              ranges decoded in parallel threads, one per CPU available; non-reference
              frames before each target dropped undecoded);
- ours-noskip: the same, every frame of the spans decoded (`skip_nonref=False`);
- ours-1w:    the same decoder as ours with one worker (sequential);
- ours-procs: the same plan with each range in a forked process (frames returned as
              raw RGB bytes): threads versus processes;
- decode-all: probe + decode every frame with PyAV (frame threading on), converting
              the chosen ones;
- ffmpeg:     one `ffmpeg -ss T -i file -frames:v 1` process per frame, scaled to the
              same size (bicubic) and piped out as raw RGB.

Then `ours` and `ours-1w` on a variable-frame-rate file and a long-GOP file
(640x360, `--side-minutes`, cached) at 16, 64 and 256 frames, for the decode floor.
Rounds are interleaved (every method once per round, order alternating). It prints
median wall and CPU times (user + system of the worker, all threads, and its
children) with ratios to ours, the frames decoded and the non-reference frames dropped
undecoded, against the exact floor for the frames returned (the frames of the spans
from each target's keyframe to it, given the keyframe layout, from a demux-only packet
scan: a decoder without skipping must output all of them), seeks, and peak memory (RSS growth of the
forked worker, sampled every 5 ms; for ffmpeg the largest ffmpeg process). Each
measurement runs in a forked child so one method's memory does not hide another's.
Targets (issue 17): (decoded + skipped)/floor 1.000 on every file (decoded/floor
1.000 without skipping); at 256 frames on the main video
wall <= 0.6x decode-all at no more CPU; at 16 frames no slower than the ffmpeg CLI.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import shutil
import statistics
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import psutil  # type: ignore[import-untyped]

from service.video.decode import cpus_available, decode_all_at, decode_at
from service.video.index import PacketScan, decode_floor, scan_packets
from service.video.policy import FramePolicy, choose_times, fit_size
from service.video.probe import VideoInfo, probe_video
from service.video.sampler import sample_video
from service.video.synth import write_moving_square

CACHE = Path("artifacts/bench")
GOP = 250


@dataclass(frozen=True)
class Run:
    wall_s: float
    cpu_s: float  # user + system CPU of the worker (all its threads) and its children
    decoded: int
    seeks: int
    peak_mb: float
    times: tuple[float, ...] = ()  # the frames' own times (for the exact floor)
    skipped: int = 0  # non-reference frames dropped undecoded


@dataclass(frozen=True)
class Row:
    method: str
    frames: int
    runs: list[Run]

    @property
    def median_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)

    @property
    def median_cpu(self) -> float:
        return statistics.median(r.cpu_s for r in self.runs)


def cached_square(name: str, minutes: float, width: int, height: int, square: int,
                  **kwargs: Any) -> Path:
    """A textured moving-square video under CACHE, generated on first use (written to
    a .part file first, so an interrupted generation is never taken for a video)."""
    path = CACHE / name
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} (once; cached) ...", flush=True)
        tmp = path.with_suffix(".part.mp4")
        write_moving_square(tmp, width=width, height=height, fps=30.0,
                            duration=minutes * 60, square_size=square, texture=True, **kwargs)
        tmp.replace(path)
    return path


def bench_video(minutes: float) -> Path:
    """The cached benchmark video, generated on first use (minutes for 10 minutes)."""
    return cached_square(f"square_{minutes:g}m_1280x720_gop{GOP}.mp4", minutes, 1280, 720,
                         96, gop=GOP)


# ---- the three methods (each returns decoded frames and seeks; -1 = not known) -------


Result = tuple[int, int, tuple[float, ...], int]
"""decoded (-1: unknown), seeks, frame times, skipped"""


def run_ours(path: Path, policy: FramePolicy) -> Result:
    sampled = sample_video(path, policy)
    return (sampled.stats.decoded_frames, sampled.stats.seeks, sampled.frameset.meta.times,
            sampled.stats.skipped_frames)


def run_ours_noskip(path: Path, policy: FramePolicy) -> Result:
    info = probe_video(path)
    frames, stats = decode_at(path, info, choose_times(info, policy), fed_size(info, policy),
                              skip_nonref=False)
    return stats.decoded_frames, stats.seeks, tuple(f.time for f in frames), 0


def run_ours_one(path: Path, policy: FramePolicy) -> Result:
    info = probe_video(path)
    frames, stats = decode_at(path, info, choose_times(info, policy), fed_size(info, policy),
                              workers=1)
    return (stats.decoded_frames, stats.seeks, tuple(f.time for f in frames),
            stats.skipped_frames)


def run_ours_procs(path: Path, policy: FramePolicy) -> Result:
    """The same plan as `ours`, each range in a forked process instead of a thread; the
    frames come back as raw RGB bytes (what processes cost: pickling the pixels)."""
    from concurrent.futures import ProcessPoolExecutor

    from PIL import Image

    from service.video.decode import plan_ranges, targets

    info = probe_video(path)
    fed = fed_size(info, policy)
    ordered, tol = targets(path, info, choose_times(info, policy))
    groups = plan_ranges(info.keyframe_times, ordered, tol, cpus_available())
    ctx = mp.get_context("fork")
    with ProcessPoolExecutor(max_workers=len(groups), mp_context=ctx) as pool:
        parts = list(pool.map(_proc_group, [(path, info, g, tol, fed) for g in groups]))
    frames = [(t, Image.frombytes("RGB", size, raw)) for part in parts
              for t, size, raw in part[0]]
    return (sum(p[1] for p in parts), sum(p[2] for p in parts), tuple(t for t, _ in frames),
            sum(p[3] for p in parts))


def _proc_group(job: tuple[Path, VideoInfo, list[float], float, tuple[int, int]]
                ) -> tuple[list[tuple[float, tuple[int, int], bytes]], int, int, int]:
    from service.video.decode import _decode_group

    path, info, group, tol, fed = job
    frames, stats = _decode_group(path, info, group, tol, fed)
    return ([(f.time, f.image.size, f.image.tobytes()) for f in frames],
            stats.decoded_frames, stats.seeks, stats.skipped_frames)


def run_decode_all(path: Path, policy: FramePolicy) -> Result:
    info = probe_video(path)
    frames, stats = decode_all_at(path, info, choose_times(info, policy), fed_size(info, policy))
    assert len(frames) == len(choose_times(info, policy))
    return stats.decoded_frames, 0, tuple(f.time for f in frames), 0


def run_ffmpeg(path: Path, policy: FramePolicy) -> Result:
    info = probe_video(path)
    w, h = fed_size(info, policy)
    for t in choose_times(info, policy):
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-ss", f"{t:.6f}", "-i", str(path),
               "-frames:v", "1", "-vf", f"scale={w}:{h}:flags=bicubic",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        out = subprocess.run(cmd, capture_output=True, check=True).stdout
        assert len(out) == w * h * 3, f"ffmpeg returned {len(out)} bytes at {t}"
    return -1, len(choose_times(info, policy)), (), 0


def fed_size(info: VideoInfo, policy: FramePolicy) -> tuple[int, int]:
    return fit_size(*info.display_size, policy.min_pixels, policy.max_pixels)


METHODS: dict[str, Callable[[Path, FramePolicy], Result]] = {
    "ours": run_ours,
    "ours-noskip": run_ours_noskip,
    "ours-1w": run_ours_one,
    "ours-procs": run_ours_procs,
    "decode-all": run_decode_all,
    "ffmpeg-cli": run_ffmpeg,
}


# ---- measurement in a forked child -------------------------------------------------


def _child(name: str, path: Path, policy: FramePolicy, conn: Connection) -> None:
    proc = psutil.Process()
    base = proc.memory_info().rss
    peak = [base]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.005):
            peak[0] = max(peak[0], proc.memory_info().rss)

    watcher = threading.Thread(target=sample, daemon=True)
    watcher.start()
    cpu0 = _cpu()
    t0 = time.perf_counter()
    decoded, seeks, times, skipped = METHODS[name](path, policy)
    wall = time.perf_counter() - t0
    cpu = _cpu() - cpu0
    done.set()
    watcher.join()
    peak_mb = (peak[0] - base) / 2**20
    if name == "ffmpeg-cli":  # the work happened in ffmpeg processes: their peak RSS
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    conn.send(Run(wall, cpu, decoded, seeks, peak_mb, times, skipped))
    conn.close()


def _cpu() -> float:
    """User + system CPU seconds of this process (every thread) and its children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + kids.ru_utime + kids.ru_stime


def measure(name: str, path: Path, policy: FramePolicy) -> Run:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_child, args=(name, path, policy, child))
    worker.start()
    run: Run = parent.recv()
    worker.join()
    return run


# ---- report ----------------------------------------------------------------------------


def report(rows: list[Row], scan: PacketScan) -> list[str]:
    """One table per video: wall and CPU medians, ratios to ours, decoded and skipped vs
    the exact floor of the frames each method returned."""
    lines = [f"{'frames':>6} {'method':<12} {'wall s':>8} {'vs ours':>8} {'cpu s':>8} "
             f"{'vs ours':>8} {'decoded':>8} {'skipped':>8} {'floor':>6} {'(d+s)/fl':>9} "
             f"{'seeks':>6} {'peak MB':>8}"]
    for row in rows:
        ours = next(r for r in rows if r.frames == row.frames and r.method == "ours")
        run = row.runs[0]
        floor = decode_floor(scan, list(run.times)) if run.times else 0
        decoded = str(run.decoded) if run.decoded >= 0 else "?"
        ratio = (f"{(run.decoded + run.skipped) / floor:.3f}"
                 if run.decoded >= 0 and floor else "-")
        lines.append(
            f"{row.frames:>6} {row.method:<12} {row.median_s:>8.3f} "
            f"{row.median_s / ours.median_s:>7.2f}x {row.median_cpu:>8.3f} "
            f"{row.median_cpu / ours.median_cpu:>7.2f}x {decoded:>8} {run.skipped:>8} "
            f"{floor or '-':>6} {ratio:>9} {run.seeks:>6} "
            f"{max(r.peak_mb for r in row.runs):>8.1f}")
    return lines


def verdicts(rows: list[Row], scan: PacketScan, label: str, main_video: bool) -> list[str]:
    """decoded + skipped == floor for ours at every count (decoded == floor without
    skipping); on the main video at 256 frames: wall <= 0.6x decode-all at no more CPU;
    at 16 frames no slower than the ffmpeg CLI."""
    by = {(r.frames, r.method): r for r in rows}
    out = []
    for n in sorted({r.frames for r in rows}):
        run = by[(n, "ours")].runs[0]
        dec = (run.decoded + run.skipped) / decode_floor(scan, list(run.times))
        out.append(f"[{'PASS' if dec == 1.0 else 'FAIL'}] {label} {n} frames: "
                   f"(decoded + skipped)/floor {dec:.3f} == 1.000 (skipped {run.skipped})")
        if (n, "ours-noskip") in by:
            plain = by[(n, "ours-noskip")].runs[0]
            dec = plain.decoded / decode_floor(scan, list(plain.times))
            out.append(f"[{'PASS' if dec == 1.0 else 'FAIL'}] {label} {n} frames: "
                       f"without skipping decoded/floor {dec:.3f} == 1.000")
        if main_video and n == 256 and (n, "decode-all") in by:
            ours, base = by[(n, "ours")], by[(n, "decode-all")]
            w, c = ours.median_s / base.median_s, ours.median_cpu / base.median_cpu
            out.append(f"[{'PASS' if w <= 0.6 else 'FAIL'}] {label} {n} frames: wall "
                       f"ours/decode-all {w:.3f} <= 0.6")
            out.append(f"[{'PASS' if c <= 1.0 else 'FAIL'}] {label} {n} frames: CPU "
                       f"ours/decode-all {c:.3f} <= 1.0")
        if main_video and n == 16 and (n, "ffmpeg-cli") in by:
            r = by[(n, "ours")].median_s / by[(n, "ffmpeg-cli")].median_s
            out.append(f"[{'PASS' if r <= 1.0 else 'FAIL'}] {label} {n} frames: wall "
                       f"ours/ffmpeg-cli {r:.3f} <= 1.0")
    return out


def side_videos(minutes: float) -> dict[str, Path]:
    """A variable-frame-rate and a long-GOP file (640x360, cached), for the floors."""
    kinds: dict[str, dict[str, Any]] = {"vfr": {"vfr": True, "gop": 60},
                                        "longgop": {"gop": 1800}}
    return {name: cached_square(f"square_{minutes:g}m_640x360_{name}.mp4", minutes, 640,
                                360, 48, **kwargs)
            for name, kwargs in kinds.items()}


def bench_one(label: str, path: Path, args: argparse.Namespace, methods: list[str],
              counts: list[int]) -> tuple[list[Row], PacketScan]:
    """Every (count, method) measured `repeats` times, interleaved: round r runs each
    method once per count, in alternating order."""
    scan = scan_packets(path)
    info = probe_video(path)
    print(f"video {label}: {path} {info.width}x{info.height} {info.duration:.0f} s "
          f"{len(scan.frame_times)} frames, {len(scan.keyframe_times)} keyframes, "
          f"VFR {info.variable_frame_rate}", flush=True)
    runs: dict[tuple[int, str], list[Run]] = {}
    wanted = [(n, m) for n in counts for m in methods
              if not (m == "ffmpeg-cli" and n > args.ffmpeg_max_frames)]
    for r in range(args.repeats):
        for n, name in wanted if r % 2 == 0 else wanted[::-1]:
            if name != "ours" and r >= args.baseline_repeats:
                continue
            policy = FramePolicy(num_frames=n, max_frames=max(256, n))
            runs.setdefault((n, name), []).append(measure(name, path, policy))
        print(f"  round {r + 1}/{args.repeats} done; load {os.getloadavg()[0]:.1f}",
              flush=True)
    return [Row(m, n, runs[(n, m)]) for n, m in wanted], scan


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="main video length")
    parser.add_argument("--side-minutes", type=float, default=2.0,
                        help="length of the VFR and long-GOP files (0: skip them)")
    parser.add_argument("--repeats", type=int, default=3, help="rounds (ours every round)")
    parser.add_argument("--baseline-repeats", type=int, default=1,
                        help="rounds that also run the other methods (slow)")
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--skip", nargs="*", default=[], choices=list(METHODS))
    parser.add_argument("--ffmpeg-max-frames", type=int, default=16,
                        help="run the ffmpeg CLI only up to this many frames (one process "
                        "per frame: at 256 frames it takes minutes and is not a target)")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None and "ffmpeg-cli" not in args.skip:
        parser.error("ffmpeg not found: apt-get install -y ffmpeg, or --skip ffmpeg-cli")
    print(f"load average before: {os.getloadavg()}; cpus {cpus_available()}", flush=True)
    methods = [m for m in METHODS if m not in args.skip]
    jobs = [("main", bench_video(args.minutes), methods, args.frames)]
    if args.side_minutes > 0:
        for label, path in side_videos(args.side_minutes).items():
            jobs.append((label, path, [m for m in methods if m.startswith("ours")],
                         sorted({16, 64, 256} | set(args.frames))))
    lines: list[str] = []
    checks: list[str] = []
    for label, path, ms, counts in jobs:
        rows, scan = bench_one(label, path, args, ms, counts)
        lines += ["", f"{label}: {path.name} ({len(scan.frame_times)} frames)",
                  *report(rows, scan)]
        checks += verdicts(rows, scan, label, label == "main")
    print("\n".join([*lines, "", "('vs ours' = method / ours; cpu = user+system of the "
                     "worker process, all threads, and its children)", "", *checks]))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()
