"""The inference pipeline: frames + question -> Verdict.

    build_prompt -> backend.sample (ONE call, n samples) -> parse_trace x n
      -> verify (CONFIDENCE voting only) -> vote -> merge evidence -> Verdict

With `weight_mode=released` the vote is the release's (`released_tts`): the traces
are read again by the release's rules, weighed by `verify_released`, and voted over
the option letters (its tie order; "A" when no letter has weight, defect
`released_default_answer`). Our parse still gives the reported traces and evidence.
The scorer question is the question with its options (ours: `format_question`, the
text the model saw; released: the release's VideoMME form).

Owns the composition and nothing else: the prompt text is `grounding.prompt`'s, the
trace grammar `grounding.parser`'s, weights `verifier`'s, the vote `voting`'s, the
evidence merge `evidence`'s.

Invariants:
- Model output never raises here: garbage completions give a Verdict with answer
  None, confidence 0, abstained True and the parser's defect codes.
- Backend failures (`BackendError`) of the sampling call propagate to the caller
  (the gateway maps them to HTTP statuses); a failed scoring call only costs that
  trace its verification (defect `verifier_failed`).
- Abstention: when nothing is votable, or confidence < `opts.abstain_below`, the
  verdict abstains: `answer` and `span` are None and no evidence is reported; the
  vote table still shows what the candidates were.
- Greedy N (`SamplingParams.greedy`: temperature 0, N > 1): the backend is asked for ONE sample
  (vLLM refuses `n > 1` when greedy; every greedy sample is the same trace anyway),
  which is reported N times and verified once; `Verdict.greedy_repeated` says so, and
  the vote counts N copies of one trace. Usage counts what was computed (one sample,
  one verification).
- `timings` covers backend (sampling), parse, verify and vote (vote + evidence
  merge). `usage` is everything the request cost: the sampling call plus every
  scoring call (`usage == usage_sampling + usage_verify`, both reported apart).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import replace

from service.grounding.parser import parse_trace
from service.grounding.prompt import (
    PromptSpec,
    build_image_prompt,
    build_prompt,
    detect_task,
    format_question,
    option_letters_in,
)
from service.grounding.protocols import Protocol
from service.grounding.released import letters_for
from service.grounding.subtitles import cues_for_frames, transcript
from service.grounding.types import FrameSetMeta, ParsedTrace, Prompt, TaskType
from service.grounding.voting import VoteOutcome, VotingMode, vote
from service.inference.backend import Backend, SampleResult, Usage
from service.inference.evidence import merge_evidence
from service.inference.released_tts import (
    ReleasedTrace,
    as_parsed,
    read_trace,
    scorer_question,
    vote_letters,
)
from service.inference.types import (
    MergedEvidence,
    PipelineOptions,
    StageTimings,
    TraceReport,
    Verdict,
    WeightMode,
)
from service.inference.verifier import TraceVerification, verify, verify_released
from service.video.frameset import FrameSet


@contextmanager
def _timed(timings: StageTimings, stage: str) -> Iterator[None]:
    start = time.perf_counter()
    try:
        yield
    finally:
        setattr(timings, stage, getattr(timings, stage) + time.perf_counter() - start)


class Pipeline:
    """Runs one request against one backend; holds no per-request state."""

    def __init__(self, backend: Backend, *, max_scoring_concurrency: int = 8) -> None:
        self.backend = backend
        self.max_scoring_concurrency = max_scoring_concurrency

    async def run(
        self,
        frames: FrameSet,
        question: str,
        *,
        options: Sequence[str] | None = None,
        task: TaskType | str | None = None,
        opts: PipelineOptions = PipelineOptions(),  # noqa: B008 (frozen, never mutated)
    ) -> Verdict:
        kind = detect_task(question, options, task)
        timings = StageTimings()
        released = opts.weight_mode is WeightMode.RELEASED
        # greedy n > 1: one trace stands for n (vLLM refuses n > 1 greedy); the released
        # mode instead makes the release's n separate greedy calls (`_sample`)
        repeated = opts.sampling.greedy and opts.n > 1 and not released
        sample = await self._sample(frames, question, kind, options, opts, timings)
        n_options = _n_options(question, options, kind)
        with _timed(timings, "parse"):
            parsed = self._parse(sample, frames, kind, n_options)
        if released:
            checks, outcome = await self._released(
                sample, frames, question, options, kind, n_options, opts, timings)
            verify_usage = sum((c.usage for c in checks), Usage())
        else:
            scorer_q = format_question(question, options)
            checks = await self._verify(frames, scorer_q, parsed[:1] if repeated else parsed,
                                        opts, timings)
            verify_usage = sum((c.usage for c in checks), Usage())
            if repeated:  # one greedy trace, verified once, stands for n
                sample = SampleResult(sample.completions[:1] * opts.n, sample.usage)
                parsed, checks = parsed[:1] * opts.n, checks * opts.n
            with _timed(timings, "vote"):
                outcome = self._vote(parsed, checks, kind, opts)
        with _timed(timings, "vote"):
            abstain = outcome.winner is None or outcome.confidence < opts.abstain_below
            evidence = () if abstain else self._evidence(parsed, outcome, frames)
        return self._verdict(
            kind, outcome, abstain, evidence, sample, parsed, checks, timings, opts,
            verify_usage, repeated,
        )

    @staticmethod
    def _vote(
        parsed: Sequence[ParsedTrace],
        checks: Sequence[TraceVerification],
        kind: TaskType,
        opts: PipelineOptions,
    ) -> VoteOutcome:
        return vote(
            parsed,
            [c.weight for c in checks],
            task=kind,
            mode=opts.voting,
            freeform_similarity=opts.freeform_similarity,
            temporal_iou_threshold=opts.temporal_iou,
        )

    async def _released(
        self,
        sample: SampleResult,
        frames: FrameSet,
        question: str,
        options: Sequence[str] | None,
        kind: TaskType,
        n_options: int | None,
        opts: PipelineOptions,
        timings: StageTimings,
    ) -> tuple[tuple[TraceVerification, ...], VoteOutcome]:
        """The release's reading, weights and vote (see the module docstring)."""
        letters = letters_for(n_options)
        rel = [read_trace(c.text, kind, letters) for c in sample.completions]
        with _timed(timings, "verify"):
            checks = await verify_released(
                self.backend, frames, scorer_question(question, options), rel,
                voting=opts.voting, sampling=opts.sampling,
                max_concurrency=self.max_scoring_concurrency)
        weights = _single(rel, [c.weight for c in checks], opts.voting)
        with _timed(timings, "vote"):
            if kind is TaskType.MCQ:
                return checks, vote_letters(rel, weights, letters)
            traces = [as_parsed(t, c.text) for t, c in zip(rel, sample.completions, strict=True)]
            return checks, vote(traces, weights, task=kind, mode=VotingMode.CONFIDENCE,
                                freeform_similarity=opts.freeform_similarity,
                                temporal_iou_threshold=opts.temporal_iou)

    async def _sample(
        self,
        frames: FrameSet,
        question: str,
        kind: TaskType,
        options: Sequence[str] | None,
        opts: PipelineOptions,
        timings: StageTimings,
    ) -> SampleResult:
        prompt = frames_prompt(frames, question, kind, options, opts)
        with _timed(timings, "backend"):
            if not (opts.sampling.greedy and opts.n > 1):
                return await self.backend.sample(prompt, frames.frames, opts.n, opts.sampling)
            if opts.weight_mode is not WeightMode.RELEASED:
                return await self.backend.sample(prompt, frames.frames, 1, opts.sampling)
            # the release's loop: n generate calls of one greedy sample each, in turn
            parts = [await self.backend.sample(prompt, frames.frames, 1, opts.sampling)
                     for _ in range(opts.n)]
            return SampleResult(tuple(c for p in parts for c in p.completions),
                                sum((p.usage for p in parts), Usage()))

    @staticmethod
    def _parse(
        sample: SampleResult, frames: FrameSet, kind: TaskType, n_options: int | None
    ) -> tuple[ParsedTrace, ...]:
        meta = frames.meta
        return tuple(
            parse_trace(
                c.text,
                task=kind,
                fed_size=meta.fed_size,
                duration=meta.duration or None,
                n_options=n_options,
            )
            for c in sample.completions
        )

    async def _verify(
        self,
        frames: FrameSet,
        question: str,
        parsed: Sequence[ParsedTrace],
        opts: PipelineOptions,
        timings: StageTimings,
    ) -> tuple[TraceVerification, ...]:
        if opts.voting is not VotingMode.CONFIDENCE:
            return tuple(TraceVerification(1.0 if t.votable else 0.0) for t in parsed)
        with _timed(timings, "verify"):
            return await verify(
                self.backend,
                frames,
                question,
                parsed,
                mode=opts.weight_mode,
                max_concurrency=self.max_scoring_concurrency,
            )

    @staticmethod
    def _evidence(
        parsed: Sequence[ParsedTrace], outcome: VoteOutcome, frames: FrameSet
    ) -> tuple[MergedEvidence, ...]:
        return merge_evidence(parsed, outcome.winner_traces, frames.meta)

    def _verdict(
        self,
        kind: TaskType,
        outcome: VoteOutcome,
        abstain: bool,
        evidence: tuple[MergedEvidence, ...],
        sample: SampleResult,
        parsed: Sequence[ParsedTrace],
        checks: Sequence[TraceVerification],
        timings: StageTimings,
        opts: PipelineOptions,
        verify_usage: Usage,
        repeated: bool,
    ) -> Verdict:
        return Verdict(
            answer=None if abstain else outcome.winner,
            confidence=outcome.confidence,
            abstained=abstain,
            task=kind,
            votes=outcome.rows,
            evidence=evidence,
            span=None if abstain else outcome.span,
            timings=timings,
            usage=sample.usage + verify_usage,
            model_id=self.backend.model_id,
            revision=self.backend.revision,
            traces=_reports(sample, parsed, checks, outcome) if opts.return_traces else (),
            defects=_defect_codes(parsed, checks, outcome, kind, opts),
            usage_sampling=sample.usage,
            usage_verify=verify_usage,
            protocol=str(opts.prompt.protocol),
            greedy_repeated=repeated,
        )


def frames_prompt(
    frames: FrameSet, question: str, kind: TaskType, options: Sequence[str] | None,
    opts: PipelineOptions,
) -> Prompt:
    """The prompt for these frames: the image prompt for a still image, else the video
    prompt of the protocol, with the subtitle cues on screen at the fed frames."""
    meta = frames.meta
    spec = _spec_for(meta, opts)
    if meta.still:
        return build_image_prompt(question, task=kind, options=options, spec=spec)
    return build_prompt(question, meta.times, task=kind, options=options,
                        duration=meta.duration, add_duration_line=opts.add_duration_line,
                        spec=spec)


def _spec_for(meta: FrameSetMeta, opts: PipelineOptions) -> PromptSpec:
    spec = opts.prompt
    if opts.subtitles is not None:
        spec = replace(spec, subtitles=transcript(cues_for_frames(opts.subtitles, meta.times)))
    released = spec.protocol in (Protocol.RELEASED, Protocol.SFT)
    if released and spec.sample_fps is None and meta.duration > 0 and meta.times:
        # the release's evenly spread labels: index / (n / duration)
        spec = replace(spec, sample_fps=len(meta.times) / meta.duration)
    return spec


def _n_options(question: str, options: Sequence[str] | None, kind: TaskType) -> int | None:
    """How many options a multiple-choice answer may pick from (None: unknown)."""
    if options:
        return len(options)
    if kind is TaskType.MCQ:
        return len(option_letters_in(question)) or None
    return None


def _reports(
    sample: SampleResult,
    parsed: Sequence[ParsedTrace],
    checks: Sequence[TraceVerification],
    outcome: VoteOutcome,
) -> tuple[TraceReport, ...]:
    return tuple(
        TraceReport(i, c.text, p, outcome.weights[i], v.score, c.finish_reason)
        for i, (c, p, v) in enumerate(zip(sample.completions, parsed, checks, strict=True))
    )


def _single(
    traces: Sequence[ReleasedTrace], weights: Sequence[float], voting: VotingMode
) -> list[float]:
    """SINGLE (no such mode in the release): the first trace with weight alone counts."""
    if voting is not VotingMode.SINGLE:
        return list(weights)
    first = next((i for i, w in enumerate(weights) if w > 0), -1)
    return [w if i == first else 0.0 for i, w in enumerate(weights)]


def _defect_codes(
    parsed: Sequence[ParsedTrace],
    checks: Sequence[TraceVerification],
    outcome: VoteOutcome,
    kind: TaskType,
    opts: PipelineOptions,
) -> tuple[str, ...]:
    """Parser defect codes across traces, first appearance first, without repeats."""
    codes = [d.code for t in parsed for d in t.defects]
    if any(c.failed for c in checks):
        codes.append("verifier_failed")
    if parsed and not any(t.votable for t in parsed):
        codes.append("no_votable_trace")
    released = opts.weight_mode is WeightMode.RELEASED and kind is TaskType.MCQ
    if released and outcome.rows and not outcome.rows[0].weight:
        codes.append("released_default_answer")
    return tuple(dict.fromkeys(codes))
