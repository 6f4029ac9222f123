"""The `strategy` of a reason request: which one runs, with what knobs, and the search's
response. No FastAPI.

Owns `resolve_strategy`, `search_options` (settings defaults + request overrides,
with limits), `search_key_parts`, `run_search_response` and `search_out`.

Invariants:
- `uniform` is today's path untouched: same frames, prompt, cache key, cost. `auto`
  resolves to `uniform` for videos up to `O3_SEARCH_AUTO_MIN_DURATION_S` (so a short
  video's request is byte-for-byte today's) and to `search` above it.
- A search's cache key is the uniform key's parts plus `strategy` and every resolved
  search knob; the uniform key has no `strategy` part at all.
- Limits: a request may lower `concurrency` below `O3_SEARCH_CONCURRENCY`, never raise
  it; a plan of more than `O3_SEARCH_MAX_CHUNKS` chunks is a 400 naming the fix.
- The response's usage includes the scan's tokens (`usage.scan`), its frames are the
  zoom frame set's (absolute times), its timings add `scan` and `zoom`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict
from typing import Any, Literal

from service.api.reason.convert import counts_out, verdict_response
from service.api.reason.protocol import (
    ChunkOut,
    ReasonFields,
    ReasonResponse,
    SearchOut,
    WindowOut,
)
from service.errors import ApiError
from service.grounding.types import TaskType
from service.inference.pipeline import Pipeline
from service.inference.search.runner import chunk_count, run_search
from service.inference.search.types import (
    FrameSource,
    SearchOptions,
    SearchProgress,
    SearchRecord,
)
from service.inference.types import PipelineOptions
from service.settings import Settings
from service.video.probe import VideoInfo

Strategy = Literal["uniform", "search"]
OnProgress = Callable[[SearchProgress], None]


def resolve_strategy(f: ReasonFields, duration: float, settings: Settings) -> Strategy:
    if f.strategy == "auto":
        return "search" if duration > settings.search_auto_min_duration_s else "uniform"
    return f.strategy


def search_options(f: ReasonFields, settings: Settings) -> SearchOptions:
    """The request's knobs over the settings' defaults (the wire model bounds each)."""
    s, r = settings, f.search
    if r.concurrency is not None and r.concurrency > s.search_concurrency:
        raise ApiError(400, "invalid_search", f"search.concurrency={r.concurrency} exceeds "
                       f"the limit {s.search_concurrency} (O3_SEARCH_CONCURRENCY)",
                       param="search.concurrency")

    def pick(value: Any, default: Any) -> Any:
        return default if value is None else value

    return SearchOptions(
        chunk_s=pick(r.chunk_s, s.search_chunk_s),
        frames_per_chunk=pick(r.frames_per_chunk, s.search_frames_per_chunk),
        windows=pick(r.windows, s.search_windows),
        window_s=pick(r.window_s, s.search_window_s),
        zoom_frames=pick(r.zoom_frames, s.search_zoom_frames),
        context_frames=pick(r.context_frames, s.search_context_frames),
        concurrency=pick(r.concurrency, s.search_concurrency),
        scan_samples=pick(r.scan_samples, s.search_scan_samples),
        keyframes_only=pick(r.keyframes_only, s.search_keyframes_only),
    )


def check_plan(opts: SearchOptions, info: VideoInfo, settings: Settings) -> None:
    chunks = chunk_count(info.duration, opts.chunk_s)
    if chunks > settings.search_max_chunks:
        raise ApiError(400, "search_too_large", f"a search of this {info.duration:.0f} s video "
                       f"needs {chunks} chunks of {opts.chunk_s:g} s, over the limit "
                       f"{settings.search_max_chunks} (O3_SEARCH_MAX_CHUNKS): ask for a longer "
                       "search.chunk_s", param="search.chunk_s")


def search_key_parts(opts: SearchOptions) -> dict[str, Any]:
    return {"strategy": "search", "search": asdict(opts)}


async def run_search_response(
    pipeline: Pipeline, source: FrameSource, f: ReasonFields, popts: PipelineOptions,
    sopts: SearchOptions, *, ids: dict[str, str], random_tiny: bool, probe_s: float,
    on_progress: OnProgress | None = None,
) -> ReasonResponse:
    """Run the search and build its response (`ids`: response_id, request_id, video_id)."""
    start = time.perf_counter()
    out = await run_search(pipeline, source, f.question, options=f.options,
                           task=TaskType(f.task) if f.task else None, opts=popts,
                           search=sopts, on_progress=on_progress)
    rec = out.record
    timings = out.verdict.timings.as_dict() | {"probe": probe_s, "scan": rec.scan_s,
                                               "zoom": rec.zoom_s}
    timings["total"] = time.perf_counter() - start + probe_s
    resp = verdict_response(out.verdict, out.frames.meta, response_id=ids["response_id"],
                            request_id=ids["request_id"], video_id=ids["video_id"],
                            random_tiny=random_tiny, timings=timings,
                            with_traces=f.return_traces)
    usage = resp.usage
    scan = rec.scan_usage
    usage = usage.model_copy(update={
        "prompt_tokens": usage.prompt_tokens + scan.prompt_tokens,
        "completion_tokens": usage.completion_tokens + scan.completion_tokens,
        "total_tokens": usage.total_tokens + scan.total_tokens, "scan": counts_out(scan)})
    return resp.model_copy(update={"usage": usage, "search": search_out(out.record, sopts)})


def search_out(rec: SearchRecord, opts: SearchOptions) -> SearchOut:
    return SearchOut(
        chunk_s=opts.chunk_s, frames_per_chunk=opts.frames_per_chunk,
        chunks=[ChunkOut(start=c.start, end=c.end, score=round(c.score, 4),
                         cited=list(c.cited), failed=c.failed) for c in rec.chunks],
        windows=[WindowOut(start=w.start, end=w.end, score=round(w.score, 4))
                 for w in rec.windows],
        scan_calls=rec.scan_calls, scan_frames=rec.scan_frames, zoom_frames=rec.zoom_frames,
        frames_decoded=rec.frames_decoded, frames_reused=rec.frames_reused,
        keyframes_only=rec.keyframes_only, scan_usage=counts_out(rec.scan_usage))
