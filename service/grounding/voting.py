"""Weighted voting over N parsed traces (SPEC section 4.5, plus our free-form and
temporal extensions). Pure: no I/O, no backend, no clock.

`vote(traces, weights, task=..., mode=...)` groups the votable traces' answers into
candidates and returns a `VoteOutcome` (winner, vote table, confidence, span).

How answers are grouped:
- MCQ: by the option letter (the parser already reduced `(A)`, `A.` ... to `A`;
  compared upper-cased and stripped).
- Free-form: by `normalize.normalize_answer`; with `freeform_similarity` < 1 a trace
  also joins the first existing group whose representative answer has a token-set
  F1 >= the threshold (greedy, in trace order).
- Temporal: traces with a `span` are clustered greedily by temporal IoU >=
  `temporal_iou_threshold`: traces are visited heaviest first (ties: earlier index)
  and each joins the cluster whose seed span overlaps it most, else seeds a new one.
  A cluster is reported by its weight-averaged span (plain mean when its weights sum
  to 0). A temporal trace without a span (unreadable range) is grouped as free-form
  text, so it can still be counted but never carries a span.

Modes: MAJORITY gives every votable trace weight 1; CONFIDENCE uses the given
weights; SINGLE counts only the first votable trace (weight 1). Unvotable traces
(`ParsedTrace.votable` is False: no answer or no think) always weigh 0 and never
appear in the table.

Tie-breaking (deterministic, also the order of `rows`): larger summed weight (compared
to 1e-9), then more votes, then the group containing the earliest trace index.

Confidence = winning weight / total votable weight; 0.0 when nothing is votable or
all weights are 0. Nothing votable -> winner None, no rows, confidence 0.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

from service.grounding.geometry import temporal_iou
from service.grounding.grammar import format_temporal_answer
from service.grounding.normalize import normalize_answer, similarity
from service.grounding.types import ParsedTrace, TaskType

_EPS = 1e-9
Span = tuple[float, float]
_KeyFn = Callable[[str], str]


class VotingMode(StrEnum):
    SINGLE = "single"          # first votable trace wins (the paper's "single pass")
    MAJORITY = "majority"      # every votable trace weighs 1
    CONFIDENCE = "confidence"  # weights from the verifier (SPEC section 4)


@dataclass(frozen=True)
class VoteRow:
    """One candidate answer in the vote table."""

    answer: str
    weight: float
    votes: int                      # how many traces voted for it
    traces: tuple[int, ...]         # indices of those traces
    span: tuple[float, float] | None = None  # temporal answers: weight-averaged span


@dataclass(frozen=True)
class VoteOutcome:
    winner: str | None
    rows: tuple[VoteRow, ...]
    confidence: float
    span: Span | None
    weights: tuple[float, ...] = ()
    """The effective weight of each input trace (after mode and votability)."""

    @property
    def winner_traces(self) -> tuple[int, ...]:
        return self.rows[0].traces if self.rows else ()


@dataclass
class _Group:
    key: str
    members: list[int] = field(default_factory=list)
    seed_span: Span | None = None


def effective_weights(
    traces: Sequence[ParsedTrace], weights: Sequence[float], mode: VotingMode
) -> tuple[float, ...]:
    """Per-trace weights as the vote uses them (see the module docstring)."""
    if len(weights) != len(traces):
        raise ValueError(f"{len(traces)} traces but {len(weights)} weights")
    votable = [t.votable for t in traces]
    if mode is VotingMode.CONFIDENCE:
        pairs = zip(weights, votable, strict=True)
        return tuple(max(0.0, float(w)) if v else 0.0 for w, v in pairs)
    if mode is VotingMode.MAJORITY:
        return tuple(1.0 if v else 0.0 for v in votable)
    first = votable.index(True) if any(votable) else -1
    return tuple(1.0 if i == first else 0.0 for i in range(len(traces)))


def vote(
    traces: Sequence[ParsedTrace],
    weights: Sequence[float],
    *,
    task: TaskType,
    mode: VotingMode,
    freeform_similarity: float = 1.0,
    temporal_iou_threshold: float = 0.5,
) -> VoteOutcome:
    """Group, weigh and rank the traces' answers; see the module docstring."""
    eff = effective_weights(traces, weights, mode)
    counted = [i for i, t in enumerate(traces) if t.votable and _counts(i, eff, mode)]
    groups = _group(traces, eff, counted, task, freeform_similarity, temporal_iou_threshold)
    rows = sorted((_row(g, traces, eff) for g in groups), key=_rank_key)
    total = sum(eff[i] for i in counted)
    if not rows:
        return VoteOutcome(None, (), 0.0, None, eff)
    confidence = rows[0].weight / total if total > _EPS else 0.0
    return VoteOutcome(rows[0].answer, tuple(rows), min(1.0, confidence), rows[0].span, eff)


def _counts(i: int, eff: Sequence[float], mode: VotingMode) -> bool:
    """SINGLE mode shows only the trace that decides; the others show every votable."""
    return eff[i] > 0.0 if mode is VotingMode.SINGLE else True


def _group(
    traces: Sequence[ParsedTrace],
    eff: Sequence[float],
    counted: Sequence[int],
    task: TaskType,
    freeform_similarity: float,
    tiou_threshold: float,
) -> list[_Group]:
    if task is TaskType.TEMPORAL:
        spanned = [i for i in counted if traces[i].span is not None]
        rest = [i for i in counted if traces[i].span is None]
        return _cluster_spans(traces, eff, spanned, tiou_threshold) + _group_text(
            traces, rest, freeform_similarity
        )
    if task is TaskType.MCQ:
        return _group_by_key(traces, counted, lambda a: a.strip().upper())
    return _group_text(traces, counted, freeform_similarity)


def _group_by_key(
    traces: Sequence[ParsedTrace], idx: Sequence[int], key_of: _KeyFn
) -> list[_Group]:
    groups: dict[str, _Group] = {}
    for i in idx:
        key = key_of(traces[i].answer or "")
        groups.setdefault(key, _Group(key)).members.append(i)
    return list(groups.values())


def _group_text(
    traces: Sequence[ParsedTrace], idx: Sequence[int], threshold: float
) -> list[_Group]:
    if threshold >= 1.0:
        return _group_by_key(traces, idx, normalize_answer)
    groups: list[_Group] = []
    for i in idx:
        key = normalize_answer(traces[i].answer or "")
        home = next((g for g in groups if _similar(g.key, key, threshold)), None)
        if home is None:
            home = _Group(key)
            groups.append(home)
        home.members.append(i)
    return groups


def _similar(a: str, b: str, threshold: float) -> bool:
    return a == b or similarity(a, b) >= threshold


def _cluster_spans(
    traces: Sequence[ParsedTrace], eff: Sequence[float], idx: Sequence[int], threshold: float
) -> list[_Group]:
    clusters: list[_Group] = []
    for i in sorted(idx, key=lambda j: (-eff[j], j)):
        span = traces[i].span
        assert span is not None  # filtered by the caller
        best = _best_cluster(clusters, span, threshold)
        if best is None:
            best = _Group(f"span{len(clusters)}", seed_span=span)
            clusters.append(best)
        best.members.append(i)
    for c in clusters:
        c.members.sort()
    return clusters


def _best_cluster(clusters: Sequence[_Group], span: Span, threshold: float) -> _Group | None:
    """The cluster whose seed overlaps `span` most (earliest on ties), if >= threshold."""
    best, best_iou = None, threshold - _EPS
    for c in clusters:
        iou = temporal_iou(c.seed_span or span, span)
        if iou > best_iou + (_EPS if best is not None else 0.0):
            best, best_iou = c, iou
    return best


def _row(g: _Group, traces: Sequence[ParsedTrace], eff: Sequence[float]) -> VoteRow:
    weight = sum(eff[i] for i in g.members)
    members = tuple(sorted(g.members))
    if g.seed_span is not None:
        span = _mean_span([traces[i].span for i in members], [eff[i] for i in members])
        return VoteRow(format_temporal_answer(*span), weight, len(members), members, span)
    rep = min(members, key=lambda i: (-eff[i], i))
    answer = (traces[rep].answer or "").strip()
    return VoteRow(answer, weight, len(members), members, None)


def _mean_span(spans: Sequence[Span | None], weights: Sequence[float]) -> Span:
    pairs = [(s, w) for s, w in zip(spans, weights, strict=True) if s is not None]
    total = sum(w for _, w in pairs)
    if total <= _EPS:
        pairs, total = [(s, 1.0) for s, _ in pairs], float(len(pairs))
    start = sum(s[0] * w for s, w in pairs) / total
    end = sum(s[1] * w for s, w in pairs) / total
    return (start, end)


def _rank_key(row: VoteRow) -> tuple[float, int, int]:
    return (-round(row.weight, 9), -row.votes, min(row.traces))

