"""The search: scan -> windows -> zoom -> the normal N-sample pipeline -> verdict.

Owns `run_search` and `SearchOutcome`.

    plan_chunks (+ keyframe snapping) -> scan_chunks (concurrent, scored)
      -> select_windows (best chunks, around their cited times, merged)
      -> zoom frame set: dense frames in the windows + context frames taken from the
         scan's own frames (no new decode) -> Pipeline.run (N samples, voting)

Invariants:
- The zoom frame set is an ordinary `FrameSet` whose times are absolute video times
  and whose `orig_size` is the video's, so the verdict's evidence times and boxes are
  absolute (video time, original pixels) by the usual mapping.
- Frames come from ONE `FrameSource`; frames the scan decoded are served to the zoom
  from the cache (the record counts decoded vs reused).
- When no chunk scored above 0, the zoom falls back to the scan's frames spread
  uniformly over the video (`zoom_frames` of them): the answer is then no worse
  informed than a uniform request, and the record says no window was chosen.
- `on_progress` sees ("scan", done, total) per chunk, then ("zoom", total, total).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from service.grounding.prompt import detect_task
from service.grounding.types import TaskType
from service.grounding.voting import VotingMode
from service.inference.pipeline import Pipeline
from service.inference.search.scan import ScanSpec, scan_chunks
from service.inference.search.types import (
    Chunk,
    FrameSource,
    SearchOptions,
    SearchProgress,
    SearchRecord,
    Window,
)
from service.inference.search.windows import (
    context_times,
    keyframes_dense,
    plan_chunks,
    select_windows,
    snap_to_keyframes,
    zoom_times,
)
from service.inference.types import PipelineOptions, Verdict
from service.video.frameset import FrameSet

OnProgress = Callable[[SearchProgress], None]


@dataclass(frozen=True)
class SearchOutcome:
    verdict: Verdict
    record: SearchRecord
    frames: FrameSet          # the zoom frame set the verdict was voted on


def scan_plan(duration: float, keyframes: Sequence[float], opts: SearchOptions
              ) -> tuple[Chunk, ...]:
    """The chunks, their frame times snapped to keyframes when `keyframes_only` and the
    keyframes are at least as dense as the scan's spacing (`keyframes_dense`)."""
    chunks = plan_chunks(duration, opts.chunk_s, opts.frames_per_chunk)
    spacing = opts.chunk_s / opts.frames_per_chunk
    if not opts.keyframes_only or not keyframes_dense(keyframes, spacing):
        return chunks
    tol = spacing / 2
    return tuple(Chunk(c.index, c.start, c.end,
                       snap_to_keyframes(c.times, keyframes, tol, (c.start, c.end)))
                 for c in chunks)


async def run_search(
    pipeline: Pipeline, source: FrameSource, question: str, *,
    options: Sequence[str] | None = None, task: TaskType | str | None = None,
    opts: PipelineOptions = PipelineOptions(),  # noqa: B008 (frozen)
    search: SearchOptions = SearchOptions(),  # noqa: B008 (frozen)
    on_progress: OnProgress | None = None,
) -> SearchOutcome:
    kind = detect_task(question, options, task)
    chunks = scan_plan(source.duration, source.keyframe_times, search)
    decoded0, reused0 = source.counts()
    t0 = time.perf_counter()

    def tick(done: int, total: int) -> None:
        if on_progress is not None:
            on_progress(SearchProgress("scan", done, total))

    tick(0, len(chunks))
    spec = ScanSpec(question, kind, options, search.scan_samples, opts.sampling,
                    verify=opts.voting is VotingMode.CONFIDENCE, weight_mode=opts.weight_mode,
                    add_duration_line=opts.add_duration_line)
    scanned = await scan_chunks(pipeline.backend, source, chunks, spec,
                                concurrency=search.concurrency, on_chunk=tick)
    t1 = time.perf_counter()
    if on_progress is not None:
        on_progress(SearchProgress("zoom", len(chunks), len(chunks)))
    windows = select_windows(scanned.scores, search.windows, search.window_s, source.duration)
    frames = await source.frames(_zoom_plan(windows, scanned.frame_times, search))
    verdict = await pipeline.run(frames, question, options=options, task=kind, opts=opts)
    decoded1, reused1 = source.counts()
    record = SearchRecord(
        chunks=tuple(scanned.scores), windows=windows, scan_calls=scanned.calls,
        scan_frames=len(set(scanned.frame_times)), zoom_frames=len(frames.frames),
        frames_decoded=decoded1 - decoded0, frames_reused=reused1 - reused0,
        keyframes_only=search.keyframes_only, scan_usage=scanned.usage,
        scan_s=t1 - t0, zoom_s=time.perf_counter() - t1)
    if on_progress is not None:
        on_progress(SearchProgress("done", len(chunks), len(chunks)))
    return SearchOutcome(verdict, record, frames)


def _zoom_plan(windows: Sequence[Window], scan_times: Sequence[float],
               search: SearchOptions) -> list[float]:
    """Dense window frames + context frames from the scan (uniform scan frames when
    no window was chosen)."""
    if not windows:
        return list(context_times(scan_times, search.zoom_frames + search.context_frames))
    dense = zoom_times(windows, search.zoom_frames)
    return sorted({*dense, *context_times(scan_times, search.context_frames, windows)})


def chunk_count(duration: float, chunk_s: float) -> int:
    """How many chunks a scan of `duration` seconds makes (for request limits)."""
    return max(1, math.ceil(duration / chunk_s - 1e-9)) if duration > 0 else 0
