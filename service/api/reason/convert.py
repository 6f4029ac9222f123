"""Verdict (pipeline value) -> ReasonResponse (wire). Pure; no I/O."""

from __future__ import annotations

from service.api.reason.protocol import (
    AnswerBoxOut,
    EvidenceOut,
    FramesOut,
    ReasonResponse,
    TokenCounts,
    TraceEvidenceOut,
    TraceOut,
    UsageOut,
    VoteOut,
)
from service.grounding.answer_box import read_answer_box
from service.grounding.geometry import fed_to_original, normalize_box
from service.grounding.types import FrameSetMeta
from service.grounding.voting import VoteRow
from service.inference.backend import Usage
from service.inference.types import MergedEvidence, TraceReport, Verdict


def _span(span: tuple[float, float] | None) -> list[float] | None:
    return None if span is None else [span[0], span[1]]


def vote_out(row: VoteRow) -> VoteOut:
    return VoteOut(answer=row.answer, weight=row.weight, votes=row.votes,
                   traces=list(row.traces), span=_span(row.span))


def evidence_out(ev: MergedEvidence) -> EvidenceOut:
    return EvidenceOut(object=ev.name, time=ev.time, support=ev.support, traces=list(ev.traces),
                       box=list(ev.box_orig), box_normalized=list(ev.box_norm),
                       box_display_normalized=list(ev.box_display_norm),
                       box_fed=list(ev.box_fed))


def counts_out(u: Usage) -> TokenCounts:
    return TokenCounts(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                       total_tokens=u.total_tokens)


def usage_out(v: Verdict) -> UsageOut:
    """The verdict's total usage (standard fields) with its sampling/verify split."""
    u = v.usage
    return UsageOut(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                    total_tokens=u.total_tokens, sampling=counts_out(v.usage_sampling),
                    verify=counts_out(v.usage_verify))


def frames_out(meta: FrameSetMeta) -> FramesOut:
    return FramesOut(times=list(meta.times), fed_size=list(meta.fed_size),
                     original_size=list(meta.orig_size), rotation=meta.rotation,
                     duration=meta.duration)


def answer_box_out(answer: str | None, meta: FrameSetMeta) -> AnswerBoxOut | None:
    """A still image's answer box, in the image's own pixels (None: none readable)."""
    found = read_answer_box(answer, meta.fed_size) if meta.still else None
    if found is None:
        return None
    name, fed = found
    orig = fed_to_original(fed, meta)
    return AnswerBoxOut(object=name, box=list(orig),
                        box_normalized=list(normalize_box(orig, meta.orig_size)),
                        box_fed=list(fed))


def trace_out(t: TraceReport) -> TraceOut:
    p = t.parsed
    return TraceOut(
        index=t.index, text=t.text, answer=p.answer, weight=t.weight,
        verifier_score=t.verifier_score, think=p.think,
        defects=[d.code for d in p.defects], finish_reason=t.finish_reason,
        evidence=[TraceEvidenceOut(object=e.name, time=e.time,
                                   boxes_fed=[list(b) for b in e.boxes]) for e in p.evidence],
    )


def verdict_response(
    verdict: Verdict, meta: FrameSetMeta, *, response_id: str, request_id: str,
    video_id: str, random_tiny: bool, timings: dict[str, float], with_traces: bool,
) -> ReasonResponse:
    return ReasonResponse(
        id=response_id, request_id=request_id, model=verdict.model_id,
        model_revision=verdict.revision, random_tiny_model=random_tiny, video_id=video_id,
        task=str(verdict.task), protocol=verdict.protocol, answer=verdict.answer,
        confidence=verdict.confidence,
        abstained=verdict.abstained, span=_span(verdict.span),
        answer_box=answer_box_out(verdict.answer, meta),
        votes=[vote_out(v) for v in verdict.votes],
        evidence=[evidence_out(e) for e in verdict.evidence], frames=frames_out(meta),
        timings=timings,
        usage=usage_out(verdict),
        cached=False, defects=list(verdict.defects), greedy_repeated=verdict.greedy_repeated,
        traces=[trace_out(t) for t in verdict.traces] if with_traces else None,
    )
