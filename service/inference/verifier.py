"""Evidence verification: each trace's cited boxes, cropped and rated by the model,
become that trace's voting weight (SPEC sections 4.3-4.4).

For every votable trace, each cited box is cropped from the fed frame nearest to the
mention's time (boxes are in fed pixels; clipped to the frame, at least 1x1 px), the
crop is upsampled (bicubic) to the fed frame size, and the scorer prompt
(`prompt.build_scorer_prompt`: the scorer system prompt, rubric, question, crops) is
sent with `backend.score` (greedy). The first 0/1/2 digit of the reply is the score.

Weight modes:
- CODE (default, the released code): ONE call per trace with all its crops;
  2 -> 1.0, 1 -> 0.6, 0 or unreadable -> 0.2. No crops, or more than `MAX_CROPS`
  (10), counts as no evidence: weight 0.2 and no call.
- PAPER (the paper's text, "average the 0/1/2 scores over the trace's objects"):
  ONE call per distinct object (normalised name) with that object's crops (its first
  `MAX_CROPS` if it has more); an unreadable reply scores 0; the mean score s in
  [0, 2] maps to weight 0.2 + 0.4 * s, the straight line through the code mapping's
  end points (0 -> 0.2, 1 -> 0.6, 2 -> 1.0), so a verified trace never weighs 0.
  No evidence -> 0.2 as in CODE mode.

- RELEASED (`verify_released`, the release's `eval/tts.py` exactly, see
  `released_tts`): evidence read by the release's pattern, the crop frame is
  `round(t * fps)` of the fed frames with fps = frames / duration (the release's
  sampled fps), its crop arithmetic (`grounding.released.crop_rect`, upsampled
  bilinear), one call per trace with the request's sampling and repetition_penalty
  1.05, and only the exact replies "0"/"1"/"2" read.

Unvotable traces (no answer or no think) get weight 0 and are not scored. All scoring
calls of one request go out concurrently, at most `max_concurrency` at a time; each
call's crops are cut in a worker thread (PIL), so the event loop never does pixel work. A
`BackendError` from one scoring call is not fatal: that call counts as unreadable and
the trace's result says so (`failed`); cancellation propagates.

Usage: each trace's `usage` is the sum of its scoring calls' `ScoreResult.usage`
(zero for a trace that made no call, and for a call that raised: its cost is unknown).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Sequence
from dataclasses import dataclass, field

from PIL import Image

from service.grounding import released as rel
from service.grounding.normalize import normalize_answer
from service.grounding.prompt import build_scorer_prompt
from service.grounding.types import Box, EvidenceItem, ParsedTrace
from service.grounding.voting import VotingMode
from service.inference.backend import Backend, BackendError, SamplingParams, Usage
from service.inference.released_tts import ReleasedTrace, base_weight, scoring_sampling
from service.inference.types import WeightMode
from service.video.frameset import FrameSet

MAX_CROPS = 10
NO_EVIDENCE_WEIGHT = 0.2
CODE_WEIGHTS = {2: 1.0, 1: 0.6, 0: 0.2}
UNREADABLE_WEIGHT = 0.2
_DIGIT = re.compile(r"[012]")


@dataclass(frozen=True)
class TraceVerification:
    """The verifier's result for one trace."""

    weight: float
    score: float | None = None  # mean 0..2 score; None when nothing was rated
    calls: int = 0              # scoring calls made for this trace
    failed: bool = False        # a scoring call raised a BackendError
    usage: Usage = field(default_factory=Usage)  # tokens of this trace's scoring calls, summed


@dataclass(frozen=True)
class _Scored:
    """What one scoring call came back with."""

    score: int | None           # the 0/1/2 digit read, None when unreadable or failed
    failed: bool = False
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class _Call:
    """One scoring call to make: the trace it scores and the (time, box) to crop."""

    trace: int
    cites: tuple[tuple[float, Box], ...]


def parse_score(reply: str) -> int | None:
    """The first 0/1/2 digit in the scorer's reply, or None (never raises).

    >>> parse_score(" 2"), parse_score("Score: 1."), parse_score("three"), parse_score("5")
    (2, 1, None, None)
    """
    m = _DIGIT.search(reply)
    return int(m.group()) if m else None


def crop_evidence(frames: FrameSet, time: float, box: Box) -> Image.Image:
    """The `box` (fed pixels) cut from the fed frame nearest to `time`, upsampled
    (bicubic) to that frame's size."""
    frame = frames.frames[_nearest(frames.meta.times, time)]
    w, h = frame.size
    x1 = min(max(round(box[0]), 0), w - 1)
    y1 = min(max(round(box[1]), 0), h - 1)
    x2 = min(max(round(box[2]), x1 + 1), w)
    y2 = min(max(round(box[3]), y1 + 1), h)
    return frame.crop((x1, y1, x2, y2)).resize((w, h), Image.Resampling.BICUBIC)


def _nearest(times: Sequence[float], t: float) -> int:
    return min(range(len(times)), key=lambda i: (abs(times[i] - t), i))


def _cites(items: Sequence[EvidenceItem]) -> tuple[tuple[float, Box], ...]:
    return tuple((it.time, b) for it in items for b in it.boxes)


def _crops(frames: FrameSet, call: _Call) -> tuple[Image.Image, ...]:
    return tuple(crop_evidence(frames, t, b) for t, b in call.cites)


def _plan(frames: FrameSet, traces: Sequence[ParsedTrace], mode: WeightMode) -> list[_Call]:
    """The scoring calls to make, in trace order (no pixels touched yet)."""
    calls: list[_Call] = []
    for i, t in enumerate(traces):
        if not t.votable or not frames.frames:
            continue
        if mode is WeightMode.CODE:
            cites = _cites(t.evidence)
            if len(cites) <= MAX_CROPS:
                calls.append(_Call(i, cites))
            continue
        calls.extend(_Call(i, _cites(items)[:MAX_CROPS]) for items in _by_object(t.evidence))
    return [c for c in calls if c.cites]


def _by_object(items: Sequence[EvidenceItem]) -> list[list[EvidenceItem]]:
    """The trace's evidence grouped by object (normalised name), first mention first."""
    groups: dict[str, list[EvidenceItem]] = {}
    for it in items:
        if it.boxes:
            groups.setdefault(normalize_answer(it.name), []).append(it)
    return list(groups.values())


async def verify(
    backend: Backend,
    frames: FrameSet,
    question: str,
    traces: Sequence[ParsedTrace],
    *,
    mode: WeightMode = WeightMode.CODE,
    max_concurrency: int = 8,
) -> tuple[TraceVerification, ...]:
    """One `TraceVerification` per trace, in order; see the module docstring."""
    if mode is WeightMode.RELEASED:
        raise ValueError("weight_mode=released reads raw traces: use verify_released")
    calls = _plan(frames, traces, mode)
    gate = asyncio.Semaphore(max(1, max_concurrency))

    async def run(call: _Call) -> _Scored:
        async with gate:
            # cutting and upsampling is CPU work (~1 ms a crop): off the event loop
            crops = await asyncio.to_thread(_crops, frames, call)
            try:
                reply = await backend.score(build_scorer_prompt(question, len(crops)), crops)
            except BackendError:
                return _Scored(None, failed=True)
            return _Scored(parse_score(reply.text), usage=reply.usage)

    results = await asyncio.gather(*(run(c) for c in calls))
    return tuple(_combine(i, t, calls, results, mode) for i, t in enumerate(traces))


def _combine(
    index: int,
    trace: ParsedTrace,
    calls: Sequence[_Call],
    results: Sequence[_Scored],
    mode: WeightMode,
) -> TraceVerification:
    mine = [r for c, r in zip(calls, results, strict=True) if c.trace == index]
    if not trace.votable:
        return TraceVerification(0.0)
    if not mine:
        return TraceVerification(NO_EVIDENCE_WEIGHT)
    failed = any(r.failed for r in mine)
    usage = sum((r.usage for r in mine), Usage())
    if mode is WeightMode.CODE:
        score = mine[0].score
        weight = UNREADABLE_WEIGHT if score is None else CODE_WEIGHTS[score]
        return TraceVerification(
            weight, None if score is None else float(score), 1, failed, usage)
    mean = sum(r.score or 0 for r in mine) / len(mine)
    return TraceVerification(0.2 + 0.4 * mean, mean, len(mine), failed, usage)


# ---- the release's verification (weight_mode=released) ---------------------------------


def released_fps(frames: FrameSet) -> float:
    """The release's sampled fps: frames per second of video (0 without a duration)."""
    d = frames.meta.duration
    return len(frames.frames) / d if d > 0 else 0.0


def released_crops(frames: FrameSet, trace: ReleasedTrace) -> list[rel.Crop]:
    if not frames.frames:
        return []
    size = frames.frames[0].size
    return rel.crops(list(trace.mentions), released_fps(frames), len(frames.frames), size)


def _cut(frames: FrameSet, plan: Sequence[rel.Crop]) -> tuple[Image.Image, ...]:
    out = []
    for c in plan:
        frame = frames.frames[c.frame]
        out.append(frame.crop(c.rect).resize(frame.size, Image.Resampling.BILINEAR))
    return tuple(out)


async def verify_released(
    backend: Backend,
    frames: FrameSet,
    question: str,
    traces: Sequence[ReleasedTrace],
    *,
    voting: VotingMode,
    sampling: SamplingParams,
    max_concurrency: int = 8,
) -> tuple[TraceVerification, ...]:
    """One `TraceVerification` per trace, by the release's rules (`question` is the
    scorer question already, `released_tts.scorer_question`)."""
    gate = asyncio.Semaphore(max(1, max_concurrency))
    score_with = scoring_sampling(sampling)

    async def run(trace: ReleasedTrace) -> TraceVerification:
        known = base_weight(trace, voting)
        if known is not None:
            return TraceVerification(known)
        plan = released_crops(frames, trace)
        if not plan:
            return TraceVerification(rel.OTHER_RELEVANCE)
        async with gate:
            crops = await asyncio.to_thread(_cut, frames, plan)
            prompt = build_scorer_prompt(question, len(crops))
            try:
                reply = await backend.score(prompt, crops, sampling=score_with)
            except BackendError:
                return TraceVerification(rel.OTHER_RELEVANCE, None, 1, True)
        value = rel.scorer_value(reply.text)
        score = float(value) if value >= 0 else None
        return TraceVerification(rel.relevance_weight(value), score, 1, False, reply.usage)

    return tuple(await asyncio.gather(*(run(t) for t in traces)))
