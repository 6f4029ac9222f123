"""Voting tables: fixed traces and weights, the winner, the table and the confidence.

Each case says what it guards. Traces are built directly as `ParsedTrace` values
(what the parser returns), so these tests pin the voter alone.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.grounding.types import ParsedTrace, TaskType
from service.grounding.voting import VotingMode, effective_weights, vote

MCQ, FREE, TEMP = TaskType.MCQ, TaskType.FREE_FORM, TaskType.TEMPORAL
MAJ, CONF, SINGLE = VotingMode.MAJORITY, VotingMode.CONFIDENCE, VotingMode.SINGLE


def tr(
    answer: str | None, *, think: str | None = "reasoning", span: tuple[float, float] | None = None
) -> ParsedTrace:
    return ParsedTrace(raw="", think=think, answer=answer, span=span)


def sp(a: float, b: float) -> ParsedTrace:
    return tr(f"From <t>{a}</t>s to <t>{b}</t>s", span=(a, b))


@dataclass(frozen=True)
class Case:
    why: str
    traces: Sequence[ParsedTrace]
    weights: Sequence[float]
    task: TaskType
    mode: VotingMode
    winner: str | None
    confidence: float
    votes: int                       # votes of the winning row
    similarity: float = 1.0


CASES = [
    # majority and confidence disagree: three weakly verified A's vs two strongly verified B's
    Case("maj-vs-conf/majority", [tr("A"), tr("A"), tr("A"), tr("B"), tr("B")],
         [0.2, 0.2, 0.2, 1.0, 1.0], MCQ, MAJ, "A", 3 / 5, 3),
    Case("maj-vs-conf/confidence", [tr("A"), tr("A"), tr("A"), tr("B"), tr("B")],
         [0.2, 0.2, 0.2, 1.0, 1.0], MCQ, CONF, "B", 2.0 / 2.6, 2),
    # single pass: the first VOTABLE trace decides (trace 0 has no think section)
    Case("single/first-votable", [tr("C", think=None), tr("B"), tr("A"), tr("A")],
         [1.0, 0.2, 1.0, 1.0], MCQ, SINGLE, "B", 1.0, 1),
    # equal weight and votes: the group holding the earliest trace wins
    Case("tie/earliest-trace", [tr("B"), tr("A"), tr("A"), tr("B")],
         [0.6, 1.0, 0.2, 0.6], MCQ, CONF, "B", 0.5, 2),
    # equal weight (0.6+0.6 vs 1.0+0.2, float noise ignored), equal votes: earliest wins
    Case("tie/float-noise", [tr("A"), tr("B"), tr("B"), tr("A")],
         [0.6, 1.0, 0.2, 0.6], MCQ, CONF, "A", 0.5, 2),
    # equal weight, more votes beats the earlier single strong vote
    Case("tie/more-votes", [tr("A"), tr("B"), tr("B")],
         [1.0, 0.8, 0.2], MCQ, CONF, "B", 0.5, 2),
    # nothing parsable: no winner, confidence 0
    Case("all-unparsable", [tr(None), tr(None, think=None), tr("A", think=None)],
         [1.0, 1.0, 1.0], MCQ, CONF, None, 0.0, 0),
    # a trace without think is ignored even if the caller gave it weight
    Case("unvotable-has-no-weight", [tr("A", think=None), tr("A", think=None), tr("B")],
         [1.0, 1.0, 0.2], MCQ, CONF, "B", 1.0, 1),
    # MCQ letters compare case-insensitively
    Case("mcq/case", [tr("b"), tr("B"), tr("A")], [1.0, 1.0, 1.0], MCQ, MAJ, "b", 2 / 3, 2),
    # all weights zero: the table still ranks by votes, but confidence is 0
    Case("zero-weights", [tr("A"), tr("A"), tr("B")], [0.0, 0.0, 0.0], MCQ, CONF, "A", 0.0, 2),
    # free-form variants of one answer are one group
    Case("free/variants", [tr("Two cats."), tr("three cats"), tr("2 cats"), tr("the two cats"),
                           tr("3 cats.")], [1.0] * 5, FREE, MAJ, "Two cats.", 3 / 5, 3),
    # the shown answer is the heaviest member's spelling
    Case("free/representative", [tr("2 cats"), tr("Two cats.")], [0.6, 1.0], FREE, CONF,
         "Two cats.", 1.0, 2),
    # near-duplicates stay apart at the exact threshold ...
    Case("free/exact", [tr("a red car"), tr("red sports car"), tr("blue bike"), tr("blue bike")],
         [1.0] * 4, FREE, MAJ, "blue bike", 0.5, 2),
    # ... and merge at a 0.75 token-F1 threshold (F1 = 0.8), earliest group wins the tie
    Case("free/similar", [tr("a red car"), tr("red sports car"), tr("blue bike"), tr("blue bike")],
         [1.0] * 4, FREE, MAJ, "a red car", 0.5, 2, similarity=0.75),
    # temporal: overlapping spans cluster; majority picks the bigger cluster
    Case("temporal/majority", [sp(10, 20), sp(40, 50), sp(11, 21), sp(41, 49), sp(10.5, 19.5)],
         [0.2, 1.0, 0.2, 1.0, 0.2], TEMP, MAJ, None, 3 / 5, 3),
    # ... confidence picks the better verified one
    Case("temporal/confidence", [sp(10, 20), sp(40, 50), sp(11, 21), sp(41, 49), sp(10.5, 19.5)],
         [0.2, 1.0, 0.2, 1.0, 0.2], TEMP, CONF, None, 2.0 / 2.6, 2),
]


@pytest.mark.parametrize("case", CASES, ids=[c.why for c in CASES])
def test_vote_table(case: Case) -> None:
    out = vote(case.traces, case.weights, task=case.task, mode=case.mode,
               freeform_similarity=case.similarity)
    if case.task is not TEMP:
        assert out.winner == case.winner
    assert out.confidence == pytest.approx(case.confidence)
    assert (out.rows[0].votes if out.rows else 0) == case.votes
    if out.rows:
        # the table is ranked: weight never increases down the rows
        weights = [r.weight for r in out.rows]
        assert weights == sorted(weights, reverse=True)
        assert out.winner_traces == out.rows[0].traces


def test_temporal_span_is_weight_averaged() -> None:
    # the winning cluster is reported by the weighted mean of its spans
    traces = [sp(10, 20), sp(40, 50), sp(12, 22), sp(41, 49)]
    out = vote(traces, [1.0, 0.2, 3.0, 0.2], task=TEMP, mode=CONF)
    assert out.span == pytest.approx(((10 * 1 + 12 * 3) / 4, (20 * 1 + 22 * 3) / 4))
    assert out.rows[0].traces == (0, 2)
    assert out.rows[1].span == pytest.approx((40.5, 49.5))
    # the answer text carries the same span, in the model's own grammar
    assert out.winner is not None and "11.5" in out.winner and "21.5" in out.winner


def test_temporal_threshold_splits_clusters() -> None:
    # tIoU((0,10),(5,15)) = 5/15 = 0.33: one cluster at 0.3, two at the default 0.5
    traces = [sp(0, 10), sp(5, 15)]
    assert len(vote(traces, [1, 1], task=TEMP, mode=MAJ, temporal_iou_threshold=0.3).rows) == 1
    assert len(vote(traces, [1, 1], task=TEMP, mode=MAJ).rows) == 2


def test_temporal_without_span_groups_as_text() -> None:
    # a temporal answer whose range was unreadable still counts, without a span
    traces = [tr("sometime early"), tr("Sometime early."), sp(1, 2)]
    out = vote(traces, [1, 1, 1], task=TEMP, mode=MAJ)
    assert out.winner == "sometime early" and out.span is None and out.rows[0].votes == 2
    assert out.rows[1].span == (1, 2)


def test_unvotable_traces_never_appear_in_rows() -> None:
    out = vote([tr("A", think=None), tr("B")], [1.0, 1.0], task=MCQ, mode=MAJ)
    assert [r.answer for r in out.rows] == ["B"]
    assert out.weights == (0.0, 1.0)


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        # majority: every votable trace weighs 1, unvotable 0
        (MAJ, (0.0, 1.0, 1.0)),
        # confidence: given weights, unvotable forced to 0, negatives clamped to 0
        (CONF, (0.0, 0.0, 0.6)),
        # single: only the first votable trace
        (SINGLE, (0.0, 1.0, 0.0)),
    ],
)
def test_effective_weights(mode: VotingMode, expected: tuple[float, ...]) -> None:
    traces = [tr("A", think=None), tr("B"), tr("C")]
    assert effective_weights(traces, [1.0, -1.0, 0.6], mode) == expected


def test_weights_must_match_traces() -> None:
    # a caller bug (not model output) is loud
    with pytest.raises(ValueError, match="2 traces but 1 weights"):
        vote([tr("A"), tr("B")], [1.0], task=MCQ, mode=CONF)


def test_vote_is_order_deterministic() -> None:
    # same input, same table, every time (no set/dict iteration order leaks)
    traces = [tr("x"), tr("y"), tr("x"), tr("z"), tr("y")]
    results = {vote(traces, [0.6, 0.6, 0.6, 1.0, 0.6], task=FREE, mode=CONF).rows for _ in range(5)}
    assert len(results) == 1


_answers = st.one_of(st.none(), st.sampled_from(["A", "B", "c", "two cats", "2 cats", "x"]))
_spans = st.one_of(st.none(), st.tuples(st.floats(0, 50), st.floats(0, 50)).map(
    lambda p: (min(p), max(p))))
_traces = st.lists(st.builds(tr, _answers, think=st.sampled_from([None, "t"]), span=_spans),
                   max_size=10)


@given(_traces, st.data(), st.sampled_from(list(TaskType)), st.sampled_from(list(VotingMode)))
def test_vote_invariants(traces: list[ParsedTrace], data: st.DataObject, task: TaskType,
                         mode: VotingMode) -> None:
    weights = data.draw(st.lists(st.sampled_from([0.0, 0.2, 0.6, 1.0]),
                                 min_size=len(traces), max_size=len(traces)))
    out = vote(traces, weights, task=task, mode=mode)
    # confidence is a share; the table partitions exactly the traces that counted
    assert 0.0 <= out.confidence <= 1.0
    members = sorted(i for r in out.rows for i in r.traces)
    assert len(members) == len(set(members))
    assert all(traces[i].votable for i in members)
    assert sum(r.votes for r in out.rows) == len(members)
    assert (out.winner is None) == (not out.rows)
    if mode is not SINGLE:
        assert members == [i for i, t in enumerate(traces) if t.votable]
    # the winner's share is never below any other row's
    assert all(out.rows[0].weight >= r.weight - 1e-9 for r in out.rows)
