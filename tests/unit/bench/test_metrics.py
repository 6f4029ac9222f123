"""V-STAR / MCQ / TVG metrics: published aggregates and hand-computed edge cases."""

from __future__ import annotations

import math
from typing import Any

import pytest

from clients.bench.metrics import (
    GtBox,
    VStarScored,
    accuracy_by,
    aggregate_from_subscores,
    duration_bucket,
    frame_iou,
    lgm,
    parse_judge_score,
    read_span,
    score_vstar_sample,
    span_iou,
    spatial_score,
    summarize_tvg,
    summarize_vstar,
)

# (model, Acc, tIoU c1, tIoU c2, vIoU c1, vIoU c2, mAM, mLGM), all x100 (SPEC section 6)
PUBLISHED = [
    # the served model's own row: the target the harness must reproduce
    ("Open-o3 Video", 61.0, 24.5, 24.0, 25.4, 6.0, 33.7, 46.6),
    # its base model: a much lower Acc, checks the log terms at a different scale
    ("Qwen2.5-VL-7B", 33.5, 15.4, 13.8, 17.0, 2.5, 19.3, 22.4),
    # a high Acc with small IoUs: LGM dominated by the Acc term
    ("GPT-4o", 60.8, 16.7, 12.8, 6.5, 3.0, 26.8, 38.2),
]


@pytest.mark.parametrize("row", PUBLISHED, ids=[r[0] for r in PUBLISHED])
def test_published_aggregates_reproduced(row: tuple[Any, ...]) -> None:
    _, acc, t1, t2, v1, v2, m_am, m_lgm = row
    got_am, got_lgm = aggregate_from_subscores(acc / 100, (t1 / 100, t2 / 100),
                                               (v1 / 100, v2 / 100))
    # the published sub-scores are themselves rounded to 0.1, so "to 0.1" is the bound
    # (Open-o3's mAM computes to 33.65 from its rounded sub-scores: published 33.7)
    assert got_am * 100 == pytest.approx(m_am, abs=0.1)
    assert got_lgm * 100 == pytest.approx(m_lgm, abs=0.1)


SPAN_CASES = [
    # exact match
    ([2.0, 6.0], [2.0, 6.0], 1.0),
    # half overlap: inter 2, hull 6
    ([2.0, 6.0], [4.0, 8.0], 2 / 6),
    # disjoint
    ([2.0, 6.0], [7.0, 9.0], 0.0),
    # a string literal is read as eval.py does
    ([2.0, 6.0], "[2, 4]", 0.5),
    # empty list (model gave no range): 0
    ([2.0, 6.0], [], 0.0),
    # None: 0
    ([2.0, 6.0], None, 0.0),
    # three numbers: malformed -> 0
    ([2.0, 6.0], [1.0, 2.0, 3.0], 0.0),
    # non-numeric element: malformed -> 0
    ([2.0, 6.0], ["a", 3.0], 0.0),
    # unreadable string: 0, never raises
    ([2.0, 6.0], "from two to six", 0.0),
    # reversed range is NOT swapped (eval.py's formula): inter 0 -> 0
    ([2.0, 6.0], [6.0, 2.0], 0.0),
]


@pytest.mark.parametrize(("gt", "pred", "want"), SPAN_CASES)
def test_span_iou(gt: list[float], pred: Any, want: float) -> None:
    assert span_iou(gt, pred) == pytest.approx(want)


def test_read_span_takes_bool_as_eval_py_does_and_rejects_nan() -> None:
    # eval.py checks isinstance(x, (int, float)), which a bool passes (True == 1); its
    # golden table (tests/unit/golden/test_vstar_metrics.py) has such rows. NaN would
    # poison every mean (eval.py scores it 0, as None does here).
    assert read_span([True, 3.0]) == (1.0, 3.0)
    assert read_span([float("nan"), 3.0]) is None


GT = (0.0, 0.0, 10.0, 10.0)
FRAME_CASES = [
    # one box, identical
    ([0, 0, 10, 10], 1.0),
    # one box, quarter overlap: inter 25, union 175
    ([5, 5, 15, 15], 25 / 175),
    # several boxes for the second: the best one counts
    ([[20, 20, 30, 30], [0, 0, 10, 5]], 0.5),
    # a box with 3 numbers: malformed -> 0
    ([0, 0, 10], 0.0),
    # a non-numeric coordinate fails the frame (eval.py's except path)
    ([[0, 0, 10, 10], ["x", 0, 1, 1]], 0.0),
    # inverted box (x1 > x2): no area, IoU 0
    ([10, 10, 0, 0], 0.0),
    # empty prediction
    ([], 0.0),
]


@pytest.mark.parametrize(("pred", "want"), FRAME_CASES)
def test_frame_iou(pred: Any, want: float) -> None:
    assert frame_iou(GT, pred) == pytest.approx(want)


BOXES = [GtBox(3, (0.0, 0.0, 10.0, 10.0)), GtBox(4, (0.0, 0.0, 10.0, 10.0))]


def test_missing_frame_counts_zero_or_is_skipped() -> None:
    # second 3 exact, second 4 missing: 0.5 counted as 0; 1.0 when skipped
    pred = {"3": [0, 0, 10, 10]}
    assert spatial_score(BOXES, pred).miou == pytest.approx(0.5)
    assert spatial_score(BOXES, pred, skip_missing=True).miou == pytest.approx(1.0)
    # AP@0.1..0.9: one of the two frames passes every threshold
    assert spatial_score(BOXES, pred).aps == (0.5, 0.5, 0.5, 0.5, 0.5)


def test_float_second_key_does_not_match_integer_timestamp() -> None:
    # eval.py looks up str(timestamp): annotation 3 -> "3"; a prediction keyed "3.0" misses
    assert spatial_score(BOXES, {"3.0": [0, 0, 10, 10]}).miou == 0.0
    # and an annotation written as 3.0 is looked up as "3.0"
    floats = [GtBox(3.0, (0.0, 0.0, 10.0, 10.0))]
    assert spatial_score(floats, {"3.0": [0, 0, 10, 10]}).miou == 1.0
    assert spatial_score(floats, {"3": [0, 0, 10, 10]}).miou == 0.0


def test_empty_or_non_mapping_prediction_scores_zero() -> None:
    # empty dict, None and a list (the reference parser's fallback shape) all score 0
    for pred in ({}, None, [[0, 0, 10, 10]]):
        assert spatial_score(BOXES, pred).miou == 0.0
        assert spatial_score(BOXES, pred, skip_missing=True).miou == 0.0


JUDGE_CASES = [
    ("3", 3),        # the expected reply
    (" 2\n", 2),     # whitespace around an integer is still an integer (int() strips)
    ("2.", -1),      # not an integer: wrong
    ("Score: 3", -1),  # prose: wrong
    ("", -1),        # empty: wrong
    (None, -1),      # no reply at all: wrong
]


@pytest.mark.parametrize(("reply", "want"), JUDGE_CASES)
def test_parse_judge_score(reply: str | None, want: int) -> None:
    assert parse_judge_score(reply) == want


def _sample(score: int | None, t: tuple[float, float], v: tuple[float, float],
            domain: str = "d") -> VStarScored:
    return VStarScored(judge_score=score, tiou=t, viou=v, viou_skip=v,
                       aps=((0.0,) * 5, (0.0,) * 5), domain=domain)


def test_unanswered_sample_skipped_everywhere_but_counted_in_accuracy() -> None:
    rows = [
        _sample(3, (0.6, 0.2), (0.4, 0.0)),   # correct
        _sample(1, (0.0, 0.4), (0.2, 0.2)),   # judged wrong
        _sample(-1, (0.3, 0.0), (0.0, 0.1)),  # judge reply unreadable: wrong, avg score 0
        _sample(None, (1.0, 1.0), (1.0, 1.0)),  # no answer: skipped (its 1.0s must not count)
    ]
    s = summarize_vstar(rows)
    assert s.total == 4 and s.answered == 3
    assert s.accuracy == pytest.approx(1 / 4)
    assert s.chains[0].m_tiou == pytest.approx(0.9 / 3)
    assert s.chains[1].m_tiou == pytest.approx(0.6 / 3)
    assert s.chains[0].m_viou == pytest.approx(0.6 / 3)
    assert s.chains[0].recall[0.3] == pytest.approx(2 / 3)
    assert s.chains[0].recall[0.5] == pytest.approx(1 / 3)
    assert s.avg_score == pytest.approx(4 / 3)
    assert s.avg_valid_score == pytest.approx(2.0)
    # AM by hand: (0.25 + 0.3 + 0.2) / 3
    assert s.chains[0].am == pytest.approx(0.75 / 3)
    want_lgm = -(math.log(0.75) + math.log(0.7) + math.log(0.8)) / 3
    assert s.chains[0].lgm == pytest.approx(want_lgm)
    assert not s.lgm_clamped


def test_group_accuracy_divides_by_answered_in_group() -> None:
    # eval.py's per-group tables use len(all_rating): answered samples of the group
    rows = [_sample(3, (0, 0), (0, 0), "a"), _sample(0, (0, 0), (0, 0), "a"),
            _sample(None, (0, 0), (0, 0), "a"), _sample(2, (0, 0), (0, 0), "b")]
    s = summarize_vstar(rows)
    assert s.groups["domain:a"].accuracy == pytest.approx(0.5)
    assert s.groups["domain:b"].accuracy == pytest.approx(1.0)
    assert s.accuracy == pytest.approx(2 / 4)


def test_lgm_log_zero_guarded() -> None:
    # a metric of exactly 1 would be ln(0) (eval.py raises); clamped to ln(1e-6)
    value, clamped = lgm(1.0, 0.0, 0.0)
    assert clamped
    assert value == pytest.approx(-math.log(1e-6) / 3)
    # all perfect: every term clamped, finite
    s = summarize_vstar([_sample(3, (1.0, 1.0), (1.0, 1.0))])
    assert s.lgm_clamped and math.isfinite(s.m_lgm)
    assert s.m_am == pytest.approx(1.0)


def test_empty_inputs_give_zeros_not_nan() -> None:
    # no samples at all / nothing answered: 0.0 (eval.py's numpy would give nan)
    for rows in ([], [_sample(None, (0, 0), (0, 0))]):
        s = summarize_vstar(rows)
        assert s.accuracy == 0.0 and s.chains[0].m_tiou == 0.0 and s.m_am == 0.0


def test_score_vstar_sample_end_to_end() -> None:
    gt_boxes = [GtBox(1, (0.0, 0.0, 10.0, 10.0)), GtBox(2, (10.0, 10.0, 20.0, 20.0))]
    s = score_vstar_sample(
        judge_score=2, gt_span=[1.0, 3.0], gt_boxes=gt_boxes,
        pred_spans=([1.0, 3.0], [2.0, 4.0]),
        pred_boxes=({"1": [0, 0, 10, 10], "2": [10, 10, 20, 20]}, {"2": [10, 10, 20, 15]}),
        domain="Sports", video_seconds=75.0)
    assert s.tiou == pytest.approx((1.0, 1 / 3))
    assert s.viou == pytest.approx((1.0, 0.25))        # chain 2: (0 + 0.5) / 2
    assert s.viou_skip == pytest.approx((1.0, 0.5))
    assert s.length == "Medium" and s.correct


@pytest.mark.parametrize(("secs", "want"), [
    (59.99, "Short"),   # just under a minute
    (60.0, "Medium"),   # the boundary belongs to Medium
    (180.0, "Long"),    # the boundary belongs to Long
])
def test_duration_bucket(secs: float, want: str) -> None:
    assert duration_bucket(secs) == want


def test_mcq_accuracy_by_category() -> None:
    got = accuracy_by([True, False, True], ["x", "x", "y"])
    assert got == {"x": (0.5, 2), "y": (1.0, 1)}


def test_tvg_summary() -> None:
    s = summarize_tvg([1.0, 0.5, 0.29, 0.0])
    assert s.m_iou == pytest.approx(1.79 / 4)
    assert s.recall == pytest.approx({0.3: 0.5, 0.5: 0.5, 0.7: 0.25})
