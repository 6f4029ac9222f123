"""Sampler benchmark: our sampler vs decoding everything vs the ffmpeg CLI, side by side.

    python -m bench.sampler_bench              # 10-minute 1280x720 H.264, GOP 250
    python -m bench.sampler_bench --minutes 1  # a quick run

One process drives all three on the same generated video (cached under
artifacts/bench/), at 16 and 256 frames, the same frame times and the same fed size:

- ours:       `sample_video` (probe + keyframe-aware decode + resize), per run fresh;
- decode-all: probe + decode every frame with PyAV, converting the chosen ones;
- ffmpeg:     one `ffmpeg -ss T -i file -frames:v 1` process per frame, scaled to the
              same size (bicubic) and piped out as raw RGB.

It prints median wall times and ratios, the frames our sampler decoded against the
floor the keyframe layout allows (computed exactly from a packet scan), and each
method's peak memory (RSS growth of a forked worker, sampled every 5 ms; for ffmpeg
the largest ffmpeg process). Each measurement runs in a forked child so one method's
memory does not hide another's.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
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

import psutil  # type: ignore[import-untyped]

from service.video.decode import decode_all_at
from service.video.index import decode_floor, scan_packets
from service.video.policy import FramePolicy, choose_times, fit_size
from service.video.probe import VideoInfo, probe_video
from service.video.sampler import sample_video
from service.video.synth import write_moving_square

CACHE = Path("artifacts/bench")
GOP = 250


@dataclass(frozen=True)
class Run:
    wall_s: float
    decoded: int
    seeks: int
    peak_mb: float


@dataclass(frozen=True)
class Row:
    method: str
    frames: int
    runs: list[Run]

    @property
    def median_s(self) -> float:
        return statistics.median(r.wall_s for r in self.runs)


def bench_video(minutes: float) -> Path:
    """The cached benchmark video, generated on first use (minutes for 10 minutes)."""
    path = CACHE / f"square_{minutes:g}m_1280x720_gop{GOP}.mp4"
    if not path.exists():
        CACHE.mkdir(parents=True, exist_ok=True)
        print(f"generating {path} (once; cached) ...", flush=True)
        tmp = path.with_suffix(".part.mp4")
        write_moving_square(tmp, width=1280, height=720, fps=30.0, duration=minutes * 60,
                            gop=GOP, square_size=96, texture=True)
        tmp.replace(path)
    return path


# ---- the three methods (each returns decoded frames and seeks; -1 = not known) -------


def run_ours(path: Path, policy: FramePolicy) -> tuple[int, int]:
    sampled = sample_video(path, policy)
    return sampled.stats.decoded_frames, sampled.stats.seeks


def run_decode_all(path: Path, policy: FramePolicy) -> tuple[int, int]:
    info = probe_video(path)
    frames, stats = decode_all_at(path, info, choose_times(info, policy), fed_size(info, policy))
    assert len(frames) == len(choose_times(info, policy))
    return stats.decoded_frames, 0


def run_ffmpeg(path: Path, policy: FramePolicy) -> tuple[int, int]:
    info = probe_video(path)
    w, h = fed_size(info, policy)
    for t in choose_times(info, policy):
        cmd = ["ffmpeg", "-v", "error", "-nostdin", "-ss", f"{t:.6f}", "-i", str(path),
               "-frames:v", "1", "-vf", f"scale={w}:{h}:flags=bicubic",
               "-f", "rawvideo", "-pix_fmt", "rgb24", "-"]
        out = subprocess.run(cmd, capture_output=True, check=True).stdout
        assert len(out) == w * h * 3, f"ffmpeg returned {len(out)} bytes at {t}"
    return -1, len(choose_times(info, policy))


def fed_size(info: VideoInfo, policy: FramePolicy) -> tuple[int, int]:
    return fit_size(*info.display_size, policy.min_pixels, policy.max_pixels)


METHODS: dict[str, Callable[[Path, FramePolicy], tuple[int, int]]] = {
    "ours": run_ours,
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
    t0 = time.perf_counter()
    decoded, seeks = METHODS[name](path, policy)
    wall = time.perf_counter() - t0
    done.set()
    watcher.join()
    peak_mb = (peak[0] - base) / 2**20
    if name == "ffmpeg-cli":  # the work happened in ffmpeg processes: their peak RSS
        peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    conn.send(Run(wall, decoded, seeks, peak_mb))
    conn.close()


def measure(name: str, path: Path, policy: FramePolicy) -> Run:
    ctx = mp.get_context("fork")
    parent, child = ctx.Pipe(duplex=False)
    worker = ctx.Process(target=_child, args=(name, path, policy, child))
    worker.start()
    run: Run = parent.recv()
    worker.join()
    return run


# ---- report ----------------------------------------------------------------------------


def report(rows: list[Row], floors: dict[int, int], total: int) -> list[str]:
    lines = [f"{'frames':>6} {'method':<11} {'median s':>9} {'vs ours':>8} {'decoded':>8} "
             f"{'floor':>6} {'dec/floor':>9} {'seeks':>6} {'peak MB':>8}"]
    for row in rows:
        ours = next(r for r in rows if r.frames == row.frames and r.method == "ours")
        run = row.runs[0]
        decoded = str(run.decoded) if run.decoded >= 0 else "?"
        ratio = f"{run.decoded / floors[row.frames]:.3f}" if run.decoded >= 0 else "-"
        lines.append(
            f"{row.frames:>6} {row.method:<11} {row.median_s:>9.3f} "
            f"{row.median_s / ours.median_s:>7.2f}x {decoded:>8} {floors[row.frames]:>6} "
            f"{ratio:>9} {run.seeks:>6} {max(r.peak_mb for r in row.runs):>8.1f}")
    lines.append(f"(video has {total} frames; 'vs ours' = method time / our time)")
    return lines


def verdicts(rows: list[Row], floors: dict[int, int]) -> list[str]:
    by = {(r.frames, r.method): r for r in rows}
    out = []
    for n in sorted(floors):
        ours = by[(n, "ours")]
        dec = ours.runs[0].decoded / floors[n]
        out.append(f"[{'PASS' if dec <= 1.1 else 'FAIL'}] {n} frames: decoded/floor "
                   f"{dec:.3f} <= 1.1")
        if (n, "decode-all") in by:
            r = ours.median_s / by[(n, "decode-all")].median_s
            out.append(f"[{'PASS' if r <= 1.0 else 'FAIL'}] {n} frames: ours/decode-all "
                       f"{r:.3f} <= 1.0")
        if (n, "ffmpeg-cli") in by and n == 16:
            r = ours.median_s / by[(n, "ffmpeg-cli")].median_s
            out.append(f"[{'PASS' if r <= 1.0 else 'FAIL'}] {n} frames: ours/ffmpeg-cli "
                       f"{r:.3f} <= 1.0")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="video length")
    parser.add_argument("--repeats", type=int, default=3, help="runs of our sampler")
    parser.add_argument("--baseline-repeats", type=int, default=1,
                        help="runs of decode-all and ffmpeg (slow)")
    parser.add_argument("--frames", type=int, nargs="+", default=[16, 256])
    parser.add_argument("--skip", nargs="*", default=[], choices=list(METHODS))
    parser.add_argument("--ffmpeg-max-frames", type=int, default=16,
                        help="run the ffmpeg CLI only up to this many frames (one process "
                        "per frame: at 256 frames it takes minutes and is not a target)")
    args = parser.parse_args(argv)
    if shutil.which("ffmpeg") is None and "ffmpeg-cli" not in args.skip:
        parser.error("ffmpeg not found: apt-get install -y ffmpeg, or --skip ffmpeg-cli")
    path = bench_video(args.minutes)
    scan = scan_packets(path)
    info = probe_video(path)
    print(f"video: {path} {info.width}x{info.height} {info.duration:.0f} s "
          f"{len(scan.frame_times)} frames, {len(scan.keyframe_times)} keyframes", flush=True)
    rows, floors = [], {}
    for n in args.frames:
        policy = FramePolicy(num_frames=n, max_frames=max(256, n))
        floors[n] = decode_floor(scan, choose_times(info, policy))
        for name in METHODS:
            if name in args.skip or (name == "ffmpeg-cli" and n > args.ffmpeg_max_frames):
                continue
            reps = args.repeats if name == "ours" else args.baseline_repeats
            rows.append(Row(name, n, [measure(name, path, policy) for _ in range(reps)]))
            print(f"  done {n} frames {name}: {rows[-1].median_s:.3f} s", flush=True)
    print("\n".join(["", *report(rows, floors, len(scan.frame_times)), "",
                     *verdicts(rows, floors)]))


if __name__ == "__main__":
    main()
