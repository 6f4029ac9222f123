"""Pure planning of a search: which frames the scan sees, which windows the zoom sees.

Owns `plan_chunks`, `snap_to_keyframes`, `window_around`, `merge_windows`,
`select_windows`, `zoom_times` and `context_times`. No I/O, no clock, no randomness.

Invariants:
- Chunks tile [0, duration) without gaps or overlaps; every chunk's frame times lie
  inside it and are evenly spaced at `chunk_s / frames_per_chunk` (a shorter last
  chunk gets proportionally fewer frames, at least one), so the spacing is the same
  all over the video: an event longer than the spacing is seen by the scan.
- Snapping moves a time to the nearest keyframe only within `tol`, never across its
  chunk's bounds, and never onto a keyframe another time already took (two frames
  never collapse into one: the frame count, and so the coverage, is kept); the result
  is sorted and unique. `keyframes_dense` says whether snapping is worth it at all.
- Windows lie inside [0, duration]; merged windows never overlap; selection returns
  at most `k` windows, best score first, and only from chunks that scored above 0.
- Zoom and context times are sorted, unique, inside [0, duration].
"""

from __future__ import annotations

import bisect
import itertools
import math
from collections.abc import Sequence

from service.inference.search.types import Chunk, ChunkScore, Window

_EPS = 1e-9


def plan_chunks(duration: float, chunk_s: float, frames_per_chunk: int) -> tuple[Chunk, ...]:
    """Chunks of `chunk_s` seconds tiling the video, each with centred frame times."""
    if duration <= 0:
        return ()
    count = max(1, math.ceil(duration / chunk_s - _EPS))
    step = chunk_s / frames_per_chunk
    out = []
    for i in range(count):
        start, end = i * chunk_s, min(duration, (i + 1) * chunk_s)
        m = max(1, min(frames_per_chunk, math.ceil((end - start) / step - _EPS)))
        times = tuple(round(start + (k + 0.5) * (end - start) / m, 3) for k in range(m))
        out.append(Chunk(i, start, end, times))
    return tuple(out)


def snap_to_keyframes(
    times: Sequence[float], keyframes: Sequence[float], tol: float,
    bounds: tuple[float, float] = (-math.inf, math.inf),
) -> tuple[float, ...]:
    """Each time moved to its nearest keyframe when one is within `tol` and `bounds`
    and no earlier time took it."""
    keys = sorted(keyframes)
    out: set[float] = set()
    for t in sorted(times):
        best = _nearest(keys, t)
        if (best is not None and abs(best - t) <= tol and bounds[0] <= best < bounds[1]
                and best not in out):
            out.add(best)
        else:
            out.add(t)
    return tuple(sorted(out))


def keyframes_dense(keyframes: Sequence[float], spacing: float) -> bool:
    """Whether keyframes come at least every `spacing` seconds (median interval): only
    then does snapping keep the scan's spacing. Sparser keyframes (long GOPs) are not
    snapped to: a frame between them costs its GOP prefix, but stays where it was."""
    gaps = sorted(b - a for a, b in itertools.pairwise(keyframes))
    return bool(gaps) and gaps[len(gaps) // 2] <= spacing + _EPS


def _nearest(sorted_values: Sequence[float], t: float) -> float | None:
    i = bisect.bisect_left(sorted_values, t)
    near = [sorted_values[j] for j in (i - 1, i) if 0 <= j < len(sorted_values)]
    return min(near, key=lambda v: (abs(v - t), v)) if near else None


def window_around(cited: Sequence[float], pad: float, duration: float) -> tuple[float, float]:
    """[min(cited) - pad, max(cited) + pad], shifted (not shrunk) to fit the video."""
    lo, hi = min(cited) - pad, max(cited) + pad
    width = min(hi - lo, duration)
    if lo < 0:
        lo, hi = 0.0, width
    if hi > duration:
        lo, hi = max(0.0, duration - width), duration
    return lo, hi


def merge_windows(windows: Sequence[Window], gap: float = 0.0) -> tuple[Window, ...]:
    """Overlapping windows (or ones within `gap` s) merged; the best score kept.

    Output is sorted by start."""
    out: list[Window] = []
    for w in sorted(windows, key=lambda w: (w.start, w.end)):
        if out and w.start <= out[-1].end + gap:
            last = out[-1]
            out[-1] = Window(last.start, max(last.end, w.end), max(last.score, w.score))
        else:
            out.append(w)
    return tuple(out)


def select_windows(
    chunks: Sequence[ChunkScore], k: int, window_s: float, duration: float
) -> tuple[Window, ...]:
    """The `k` best windows: around each scoring chunk's cited times (its middle when
    it cited none), best chunks first, overlapping candidates merged."""
    ranked = sorted((c for c in chunks if c.score > 0), key=lambda c: (-c.score, c.start))
    picked: tuple[Window, ...] = ()
    for c in ranked:
        cited = c.cited or ((c.start + c.end) / 2,)
        lo, hi = window_around(cited, window_s / 2, duration)
        merged = merge_windows((*picked, Window(lo, hi, c.score)))
        if len(merged) <= k:  # a candidate that would open a (k+1)-th window is skipped
            picked = merged
    return tuple(sorted(picked, key=lambda w: (-w.score, w.start)))


def zoom_times(windows: Sequence[Window], total: int) -> tuple[float, ...]:
    """`total` frame times spread over the windows in proportion to their length,
    evenly spaced (centred) inside each; every window gets at least one."""
    if not windows or total < 1:
        return ()
    lengths = [max(w.end - w.start, _EPS) for w in windows]
    shares = _apportion(total, lengths)
    out: set[float] = set()
    for w, m in zip(windows, shares, strict=True):
        step = (w.end - w.start) / m
        out.update(round(w.start + (j + 0.5) * step, 3) for j in range(m))
    return tuple(sorted(out))


def _apportion(total: int, lengths: Sequence[float]) -> list[int]:
    """Largest-remainder split of `total` by `lengths`, at least 1 each."""
    n = len(lengths)
    if total <= n:
        return [1] * n
    whole = sum(lengths)
    raw = [(total - n) * x / whole for x in lengths]
    shares = [1 + math.floor(r) for r in raw]
    order = sorted(range(n), key=lambda i: (-(raw[i] - math.floor(raw[i])), i))
    for i in order[: total - sum(shares)]:
        shares[i] += 1
    return shares


def context_times(
    available: Sequence[float], k: int, exclude: Sequence[Window] = ()
) -> tuple[float, ...]:
    """`k` times picked evenly from `available` (the scan's frames: no new decode),
    outside the `exclude` windows."""
    pool = sorted(t for t in set(available) if not any(w.start <= t <= w.end for w in exclude))
    if k <= 0 or not pool:
        return ()
    if k >= len(pool):
        return tuple(pool)
    return tuple(sorted({pool[round((j + 0.5) * len(pool) / k - 0.5)] for j in range(k)}))
