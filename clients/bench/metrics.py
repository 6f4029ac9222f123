"""Benchmark metrics: V-STAR (SPEC section 6), video MCQ accuracy, TVGBench. Pure.

Everything here follows the V-STaR benchmark's own evaluation code (`eval.py` in the
public V-STaR-Bench/V-STaR repository) wherever it decides an edge case; the places
where that code decides something the issue text words differently are marked
"eval.py:" below and listed in docs/BENCHMARKS.md.

V-STAR, per sample (`VStarScored`):
- what: the judge's 0..3 score; correct iff score >= 2. A judge reply that is not an
  integer is score -1 (wrong; counted as 0 in the average score).
- when: temporal IoU of the predicted range against `timestamps`. A missing, empty,
  non-numeric or not-two-element range scores 0 (a string is read as a Python literal
  first, as eval.py does; booleans count as numbers, as there).
- where: for each annotated box, the IoU of the prediction stored under
  `str(timestamp)` of the annotation (a list of boxes -> the best one); a frame with
  no prediction scores 0 ("missing = 0", the current release and the Open-o3
  evaluation) or is left out (`skip_missing=True`, the first release; a sample with no
  matched frame then scores 0). A prediction that is not a mapping, or is empty,
  scores 0 everywhere. AP@t is the fraction of annotated frames with IoU >= t, for
  t in 0.1, 0.3, 0.5, 0.7, 0.9 (eval.py's five thresholds).

V-STAR, aggregate (`summarize_vstar`):
- eval.py: a sample with no "what" answer is skipped for EVERY metric, yet the
  overall accuracy divides by all samples. Temporal and visual means divide by the
  answered samples only. Per-group tables (domain, video length) divide accuracy by
  the group's answered samples (eval.py passes `len(all_rating)` there).
- An empty mean is 0.0 here (eval.py's numpy mean would give nan).
- AM_c = (Acc + mtIoU_c + mvIoU_c) / 3; LGM_c = -(ln(1-Acc) + ln(1-mtIoU_c) +
  ln(1-mvIoU_c)) / 3. eval.py does not guard ln(0) (a metric of exactly 1 raises
  there); here each 1 - m is clamped to at least `LGM_EPS` = 1e-6, so a perfect
  metric adds -ln(1e-6)/3 = 4.61 to LGM, and `lgm_clamped` says it happened.
- Reported values are fractions; reports multiply by 100.
"""

from __future__ import annotations

import ast
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from service.grounding.geometry import box_iou, temporal_iou

AP_THRESHOLDS = (0.1, 0.3, 0.5, 0.7, 0.9)
RECALL_THRESHOLDS = (0.3, 0.5, 0.7)
LGM_EPS = 1e-6
SHORT_S, MEDIUM_S = 60.0, 180.0


# ---- primitives ----------------------------------------------------------------------


def mean(values: Iterable[float]) -> float:
    """Arithmetic mean; 0.0 for no values."""
    vals = list(values)
    return sum(vals) / len(vals) if vals else 0.0


def _is_number(x: object) -> bool:
    """eval.py's `isinstance(x, (int, float))` (a bool passes, as True == 1 there), and
    finite (eval.py scores NaN/inf ranges 0, as rejecting them does here)."""
    return isinstance(x, int | float) and math.isfinite(x)


def read_span(pred: Any) -> tuple[float, float] | None:
    """A predicted range as eval.py accepts it: two numbers (a string literal is read)."""
    if not pred:
        return None
    if isinstance(pred, str):
        try:
            pred = ast.literal_eval(pred)
        except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
            return None
    if not isinstance(pred, list | tuple) or len(pred) != 2:
        return None
    if not all(_is_number(x) for x in pred):
        return None
    return (float(pred[0]), float(pred[1]))


def span_iou(gt: Sequence[float], pred: Any) -> float:
    """Temporal IoU of a raw prediction; 0 when it is missing or malformed."""
    span = read_span(pred)
    if span is None:
        return 0.0
    return temporal_iou((float(gt[0]), float(gt[1])), span)


@dataclass(frozen=True)
class GtBox:
    """One annotated frame: its timestamp (as written in the file) and box, pixels."""

    timestamp: Any
    box: tuple[float, float, float, float]

    @property
    def key(self) -> str:
        """eval.py looks predictions up by `str(timestamp)`: 3 -> "3", 3.0 -> "3.0"."""
        return str(self.timestamp)


def frame_iou(gt: tuple[float, float, float, float], pred: Any) -> float:
    """IoU of the best of one or several predicted boxes; malformed -> 0 (eval.py)."""
    if not pred or not isinstance(pred, list | tuple):
        return 0.0
    candidates = [pred] if _is_number(pred[0]) and len(pred) == 4 else list(pred)
    best = 0.0
    for cand in candidates:
        if not isinstance(cand, list | tuple) or len(cand) != 4:
            continue
        if not all(_is_number(x) for x in cand):
            return 0.0  # eval.py: a non-numeric coordinate fails the whole frame
        best = max(best, box_iou(gt, (cand[0], cand[1], cand[2], cand[3])))
    return best


@dataclass(frozen=True)
class SpatialScore:
    miou: float
    aps: tuple[float, ...]  # one per AP_THRESHOLDS


def spatial_score(
    gt_boxes: Sequence[GtBox], pred: Any, *, skip_missing: bool = False
) -> SpatialScore:
    """Visual IoU of one sample (see the module docstring)."""
    zero = SpatialScore(0.0, tuple(0.0 for _ in AP_THRESHOLDS))
    if not pred or not isinstance(pred, Mapping):
        return zero
    ious: list[float] = []
    for g in gt_boxes:
        if g.key in pred:
            ious.append(frame_iou(g.box, pred[g.key]))
        elif not skip_missing:
            ious.append(0.0)
    if not ious:
        return zero
    aps = tuple(mean(1.0 if i >= t else 0.0 for i in ious) for t in AP_THRESHOLDS)
    return SpatialScore(mean(ious), aps)


def parse_judge_score(reply: str | None) -> int:
    """eval.py: `int(reply)` or -1 (wrong) when the reply is not an integer."""
    if reply is None:
        return -1
    try:
        return int(reply)
    except (ValueError, TypeError):
        return -1


def duration_bucket(seconds: float) -> str:
    """eval.py's video-length groups: Short < 60 s <= Medium < 180 s <= Long."""
    if seconds < SHORT_S:
        return "Short"
    return "Medium" if seconds < MEDIUM_S else "Long"


# ---- V-STAR per sample ---------------------------------------------------------------


@dataclass(frozen=True)
class VStarScored:
    """One sample's scores. `judge_score` None = no "what" answer (skipped)."""

    judge_score: int | None
    tiou: tuple[float, float] = (0.0, 0.0)            # chain 1, chain 2
    viou: tuple[float, float] = (0.0, 0.0)            # missing frames = 0
    viou_skip: tuple[float, float] = (0.0, 0.0)       # missing frames skipped
    aps: tuple[tuple[float, ...], tuple[float, ...]] = ((), ())
    domain: str = "unknown"
    length: str = "Short"

    @property
    def answered(self) -> bool:
        return self.judge_score is not None

    @property
    def correct(self) -> bool:
        return self.judge_score is not None and self.judge_score >= 2


def score_vstar_sample(
    *,
    judge_score: int | None,
    gt_span: Sequence[float],
    gt_boxes: Sequence[GtBox],
    pred_spans: tuple[Any, Any],
    pred_boxes: tuple[Any, Any],
    domain: str = "unknown",
    video_seconds: float = 0.0,
) -> VStarScored:
    """Score chain 1 and chain 2 of one sample from raw predictions."""
    tiou = (span_iou(gt_span, pred_spans[0]), span_iou(gt_span, pred_spans[1]))
    full = [spatial_score(gt_boxes, p) for p in pred_boxes]
    skip = [spatial_score(gt_boxes, p, skip_missing=True) for p in pred_boxes]
    return VStarScored(
        judge_score=judge_score,
        tiou=tiou,
        viou=(full[0].miou, full[1].miou),
        viou_skip=(skip[0].miou, skip[1].miou),
        aps=(full[0].aps, full[1].aps),
        domain=domain,
        length=duration_bucket(video_seconds),
    )


# ---- V-STAR aggregate ----------------------------------------------------------------


@dataclass(frozen=True)
class ChainSummary:
    m_tiou: float
    recall: dict[float, float]       # R@0.3/0.5/0.7
    m_viou: float                    # missing frames = 0
    m_viou_skip_missing: float       # first-release variant
    ap: dict[float, float]           # AP@0.1..0.9
    am: float
    lgm: float


@dataclass(frozen=True)
class VStarSummary:
    total: int                       # samples in the file (accuracy denominator)
    answered: int                    # samples with a "what" answer
    accuracy: float
    avg_score: float                 # judge score, -1 counted as 0
    avg_valid_score: float           # judge score over integer replies
    chains: tuple[ChainSummary, ChainSummary]
    m_am: float
    m_lgm: float
    lgm_clamped: bool
    groups: dict[str, VStarSummary] = field(default_factory=dict)


def am(acc: float, tiou: float, viou: float) -> float:
    return (acc + tiou + viou) / 3


def lgm(acc: float, tiou: float, viou: float) -> tuple[float, bool]:
    """LGM and whether a term was clamped (a metric of 1 or more)."""
    terms = [1.0 - m for m in (acc, tiou, viou)]
    clamped = any(t < LGM_EPS for t in terms)
    return -sum(math.log(max(t, LGM_EPS)) for t in terms) / 3, clamped


def aggregate_from_subscores(
    acc: float, tiou: tuple[float, float], viou: tuple[float, float]
) -> tuple[float, float]:
    """(mAM, mLGM) from Acc and the per-chain means, all fractions."""
    am1, am2 = am(acc, tiou[0], viou[0]), am(acc, tiou[1], viou[1])
    lgm1, _ = lgm(acc, tiou[0], viou[0])
    lgm2, _ = lgm(acc, tiou[1], viou[1])
    return (am1 + am2) / 2, (lgm1 + lgm2) / 2


def _chain(rows: Sequence[VStarScored], c: int, acc: float) -> tuple[ChainSummary, bool]:
    tious = [r.tiou[c] for r in rows]
    m_tiou, m_viou = mean(tious), mean(r.viou[c] for r in rows)
    value, clamped = lgm(acc, m_tiou, m_viou)
    summary = ChainSummary(
        m_tiou=m_tiou,
        recall={t: mean(1.0 if i >= t else 0.0 for i in tious) for t in RECALL_THRESHOLDS},
        m_viou=m_viou,
        m_viou_skip_missing=mean(r.viou_skip[c] for r in rows),
        ap={t: mean(r.aps[c][k] for r in rows if r.aps[c]) for k, t in
            enumerate(AP_THRESHOLDS)},
        am=am(acc, m_tiou, m_viou),
        lgm=value,
    )
    return summary, clamped


def summarize_vstar(
    samples: Sequence[VStarScored], *, total: int | None = None, groups: bool = True
) -> VStarSummary:
    """Aggregate as eval.py does; `total` defaults to len(samples)."""
    n_total = len(samples) if total is None else total
    rows = [s for s in samples if s.answered]
    scores = [s.judge_score for s in rows if s.judge_score is not None]
    acc = sum(1 for s in rows if s.correct) / n_total if n_total else 0.0
    c1, k1 = _chain(rows, 0, acc)
    c2, k2 = _chain(rows, 1, acc)
    return VStarSummary(
        total=n_total,
        answered=len(rows),
        accuracy=acc,
        avg_score=mean(max(0, s) for s in scores),
        avg_valid_score=mean(s for s in scores if s != -1),
        chains=(c1, c2),
        m_am=(c1.am + c2.am) / 2,
        m_lgm=(c1.lgm + c2.lgm) / 2,
        lgm_clamped=k1 or k2,
        groups=_groups(rows) if groups else {},
    )


def _groups(rows: Sequence[VStarScored]) -> dict[str, VStarSummary]:
    """Per domain and per video length; accuracy over the group's answered samples."""
    keys: list[tuple[str, Callable[[VStarScored], str]]] = [
        ("domain", lambda r: r.domain), ("length", lambda r: r.length)]
    out: dict[str, VStarSummary] = {}
    for kind, key_of in keys:
        for name in sorted({key_of(r) for r in rows}):
            members = [r for r in rows if key_of(r) == name]
            out[f"{kind}:{name}"] = summarize_vstar(members, groups=False)
    return out


# ---- MCQ and TVG ---------------------------------------------------------------------


def accuracy(correct: Sequence[bool]) -> float:
    return mean(1.0 if c else 0.0 for c in correct)


def accuracy_by(
    correct: Sequence[bool], categories: Sequence[str]
) -> dict[str, tuple[float, int]]:
    """Per-category (accuracy, count), categories sorted by name."""
    out: dict[str, tuple[float, int]] = {}
    for name in sorted(set(categories)):
        picked = [c for c, k in zip(correct, categories, strict=True) if k == name]
        out[name] = (accuracy(picked), len(picked))
    return out


@dataclass(frozen=True)
class TvgSummary:
    count: int
    m_iou: float
    recall: dict[float, float]  # R1@0.3/0.5/0.7


def summarize_tvg(ious: Sequence[float]) -> TvgSummary:
    """TVGBench: mean IoU and R1@m (one prediction per query; unreadable -> IoU 0)."""
    return TvgSummary(
        count=len(ious),
        m_iou=mean(ious),
        recall={t: mean(1.0 if i >= t else 0.0 for i in ious) for t in RECALL_THRESHOLDS},
    )
