"""The inference pipeline: frames + question -> Verdict.

    build_prompt -> backend.sample (ONE call, n samples) -> parse_trace x n
      -> verify (CONFIDENCE voting only) -> vote -> merge evidence -> Verdict

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

from service.grounding.parser import parse_trace
from service.grounding.prompt import build_prompt, detect_task, option_letters_in
from service.grounding.types import ParsedTrace, TaskType
from service.inference.backend import Backend, SampleResult, Usage
from service.inference.evidence import merge_evidence
from service.inference.types import (
    MergedEvidence,
    PipelineOptions,
    StageTimings,
    TraceReport,
    Verdict,
    VotingMode,
)
from service.inference.verifier import TraceVerification, verify
from service.inference.voting import VoteOutcome, vote
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
        repeated = opts.sampling.greedy and opts.n > 1
        sample = await self._sample(frames, question, kind, options, opts, timings)
        with _timed(timings, "parse"):
            parsed = self._parse(sample, frames, kind, _n_options(question, options, kind))
        checks = await self._verify(frames, question, parsed[:1] if repeated else parsed,
                                    opts, timings)
        verify_usage = sum((c.usage for c in checks), Usage())
        if repeated:
            sample = SampleResult(sample.completions[:1] * opts.n, sample.usage)
            parsed, checks = parsed[:1] * opts.n, checks * opts.n
        with _timed(timings, "vote"):
            outcome = vote(
                parsed,
                [c.weight for c in checks],
                task=kind,
                mode=opts.voting,
                freeform_similarity=opts.freeform_similarity,
                temporal_iou_threshold=opts.temporal_iou,
            )
            abstain = outcome.winner is None or outcome.confidence < opts.abstain_below
            evidence = () if abstain else self._evidence(parsed, outcome, frames)
        return self._verdict(
            kind, outcome, abstain, evidence, sample, parsed, checks, timings, opts,
            verify_usage, repeated,
        )

    async def _sample(
        self,
        frames: FrameSet,
        question: str,
        kind: TaskType,
        options: Sequence[str] | None,
        opts: PipelineOptions,
        timings: StageTimings,
    ) -> SampleResult:
        prompt = build_prompt(
            question,
            frames.meta.times,
            task=kind,
            options=options,
            duration=frames.meta.duration,
            add_duration_line=opts.add_duration_line,
        )
        calls = 1 if opts.sampling.greedy else opts.n
        with _timed(timings, "backend"):
            return await self.backend.sample(prompt, frames.frames, calls, opts.sampling)

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
            defects=_defect_codes(parsed, checks),
            usage_sampling=sample.usage,
            usage_verify=verify_usage,
            greedy_repeated=repeated,
        )


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


def _defect_codes(
    parsed: Sequence[ParsedTrace], checks: Sequence[TraceVerification]
) -> tuple[str, ...]:
    """Parser defect codes across traces, first appearance first, without repeats."""
    codes = [d.code for t in parsed for d in t.defects]
    if any(c.failed for c in checks):
        codes.append("verifier_failed")
    if parsed and not any(t.votable for t in parsed):
        codes.append("no_votable_trace")
    return tuple(dict.fromkeys(codes))
