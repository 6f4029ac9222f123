"""The released reward functions, case for case (`rl.rewards.mode: released`).

Owns `released_scores`: the seven rewards of the release's `src/r1-v/src/open_r1/
reward_func.py` (ans_acc, ans_tiou, ans_viou, thk_temporal_point,
thk_temporal_segment, thk_spatial, format) for ONE completion, written here from their
behaviour (strict regexes, `json.loads` boxes, `float()` times, numpy IoU and exp), and
`released_terms`, which folds them into our four logged terms by plain sums (the
release sums all seven rewards with weight 1, so the total is unchanged).

Inputs are the record's own fields as the release receives them (`training.data.
released_fields`): the raw answer text, key frames `{idx, time}`, normalized key items,
`image_size` (fed size for videos, the stored size for images) and
`image_size_refine` (fed size of an image), plus `step_percent` =
(global_step + 1) / max_steps.

Invariants:
- Equal to the release on every row of `tests/golden/released_rewards.jsonl` (generated
  by `scripts/golden/released_rewards.py` from THEIR functions); the table is the proof.
- Where the release raises instead of scoring (a temporal answer `ast.literal_eval`
  cannot read, a grounded record without key frames, a key frame without key items),
  this scores 0: a malformed RECORD must not crash training (the release would). These
  cases never occur in valid data and are not in the golden table.
- Never raises on model text.
"""

from __future__ import annotations

import ast
import contextlib
import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from rouge_score import rouge_scorer  # type: ignore[import-untyped]

TEMPORAL = ("temporal QA", "temporal QA (MCQ)")
NAMES = ("ans_acc", "ans_tiou", "ans_viou", "thk_temporal_point", "thk_temporal_segment",
         "thk_spatial", "format")
TERMS = {"accuracy": ("ans_acc", "ans_tiou", "ans_viou"),
         "temporal": ("thk_temporal_point", "thk_temporal_segment"),
         "spatial": ("thk_spatial",), "format": ("format",)}

_ROUGE = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=True)
_ANSWER = re.compile(r"<answer>\s*(.*?)\s*</answer>", re.DOTALL)
_ANSWER_ANY = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_SPAN = re.compile(r"<t>(\d+\.?\d*)</t>s to <t>(\d+\.?\d*)</t>s")
_BOX = re.compile(r"<box>(\[.*?\])</box>")
_TIME = re.compile(r"<t>([\d.]+)</t>s")
_CLAIM = re.compile(r"<obj>(.*?)</obj>((?:<box>\[.*?\]</box>)+)at<t>(.*?)</t>s", re.DOTALL)
_LIST = re.compile(r"\[.*?\]")
_VQA_EVIDENCE = re.compile(r"<obj>(\w+)</obj><box>(\[.*?\])</box>")


def rouge_mean(reference: str, hypothesis: str) -> float:
    """Mean of ROUGE-1/2/L F1, stemmed (the release's `compute_rouge_score`)."""
    scores = _ROUGE.score(reference, hypothesis)
    return float((scores["rouge1"].fmeasure + scores["rouge2"].fmeasure
                  + scores["rougeL"].fmeasure) / 3)


def _answer_of(text: str) -> str:
    m = _ANSWER.search(text)
    return m.group(1).strip() if m else ""


def _letter_forms(gt: str) -> list[str]:
    return [gt, gt + ".", "(" + gt + ")", "[" + gt + "]"]


def _iou(gt: Sequence[Any], pred: Any) -> float:
    """The release's IoU: pred must be a 4-list of numbers; areas may be negative."""
    if not (isinstance(pred, list) and len(pred) == 4):
        return 0.0
    try:
        a = np.array(gt, dtype=float)
        b = np.array(pred, dtype=float)
    except (ValueError, TypeError, IndexError):
        return 0.0
    xa, ya = max(a[0], b[0]), max(a[1], b[1])
    xb, yb = min(a[2], b[2]), min(a[3], b[3])
    inter = max(0, xb - xa) * max(0, yb - ya)
    union = (a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter
    return float(inter / union) if union > 0 else 0.0


def _to_refined(box: Sequence[float], size: Sequence[float], refine: Sequence[float]) -> list[Any]:
    out = list(box)
    for i, axis in enumerate((0, 1, 0, 1)):
        out[i] = out[i] * refine[axis] / size[axis]
    return out


def _times(think: str) -> list[float]:
    try:
        return [float(t) for t in _TIME.findall(think)]
    except ValueError:  # one malformed time (`1.2.3`, `.`) drops them all, as released
        return []


def _span_iou(answer_text: str, gt: Sequence[float]) -> float:
    m = _SPAN.search(answer_text)
    if not m:
        return 0.0
    start, end = float(m.group(1)), float(m.group(2))
    if end < start:
        return 0.0
    s2, e2 = gt
    inter = max(0, min(end, e2) - max(start, s2))
    union = max(end, e2) - min(start, s2)
    return inter / union if union != 0 else 0


def _gt_span(task: str, answer: str) -> Any:
    return ast.literal_eval(answer.split("\n")[1] if task == "temporal QA (MCQ)" else answer)


# ---- the seven rewards --------------------------------------------------------------


def ans_acc(text: str, task: str, answer: str) -> float:
    out, gt = _answer_of(text), _answer_of(f"<answer>{answer}</answer>")
    if task == "temporal QA (MCQ)":
        parts = out.split("Correct Option:")
        if len(parts) < 2:
            return 0.0
        return 1.0 if parts[1].strip() in _letter_forms(answer.split("\n")[0].strip()) else 0.0
    if task == "General video QA MCQ":
        return 1.0 if out.strip() in _letter_forms(gt.strip()) else 0.0
    if task in ("visual QA", "temporal QA"):
        return 0.0
    return max(0.0, min(1.0, rouge_mean(gt, out)))


def ans_tiou(text: str, task: str, answer: str) -> float:
    if task not in TEMPORAL:
        return 0.0
    try:
        return float(_span_iou(_answer_of(text), _gt_span(task, answer)))
    except (ValueError, TypeError, IndexError, SyntaxError, KeyError, AttributeError):
        return 0.0


def ans_viou(text: str, task: str, answer: str, image_size: Sequence[float],
             image_size_refine: Sequence[float]) -> float:
    if task != "visual QA":
        return 0.0
    try:
        gt_m = _BOX.search(f"<answer>{answer}</answer>")
        gt = json.loads(gt_m.group(1)) if gt_m else None
        pred_m = _BOX.search(_answer_of(text))
        if not pred_m:
            return 0.0
        pred = json.loads(pred_m.group(1))
        if gt is None or pred is None:
            return 0.0
        return _iou(_to_refined(gt, image_size, image_size_refine), pred)
    except (ValueError, TypeError, IndexError, KeyError, ZeroDivisionError, AttributeError):
        return 0.0


def format_score(text: str, task: str) -> float:
    think, answer = _THINK.search(text), re.search(r"<answer>.*?</answer>", text, re.DOTALL)
    if not (think and answer):
        return 0.0
    for tag in ("think", "answer"):
        if text.count(f"<{tag}>") != text.count(f"</{tag}>"):
            return 0.0
    inner = think.group(1)
    counts = {tag: inner.count(f"<{tag}>") for tag in ("obj", "t", "box")}
    if any(counts[tag] != inner.count(f"</{tag}>") for tag in counts):
        return 0.0
    grounded = counts["obj"] > 0 and counts["t"] > 0 and counts["box"] > 0
    if task in TEMPORAL:
        grounded = counts["t"] >= 2
    if task == "visual QA" and _VQA_EVIDENCE.search(text):
        grounded = True
    return 1.0 if grounded or "General video QA" in task else 0.5


def thk_temporal_segment(text: str, task: str, answer: str) -> float:
    think = _THINK.search(text)
    if not think or task not in TEMPORAL:
        return 0.0
    try:
        lo, hi = _gt_span(task, answer)[0], _gt_span(task, answer)[1]
    except (ValueError, TypeError, IndexError, SyntaxError, KeyError):
        return 0.0  # the release raises here (record error); see the module docstring
    times = _times(think.group(1))
    if not times:
        return 0.0
    hits = 0.0
    for t in times:
        if lo <= t <= hi:
            hits += 1.0
    return hits / len(times)


def thk_temporal_point(text: str, task: str, key_times: Sequence[float],
                       step_percent: float) -> float:
    think = _THINK.search(text)
    if not think or task != "temporal-spatial free-form QA" or not key_times:
        return 0.0
    times = _times(think.group(1))
    if not times:
        return 0.0
    sigma = 4 * (1 - step_percent) if step_percent < 3 / 4 else 1
    total = 0.0
    for t in times:
        d = min([abs(t - g) for g in key_times])
        total += np.exp(-(d ** 2) / (2 * sigma ** 2))
    return float(total / len(times))


def _claims(think: str) -> list[tuple[float, list[Any]]]:
    """(time, boxes) of each `<obj>..</obj><box>..</box>..at<t>..</t>s`; a claim whose
    time or box does not parse is skipped (it does not count in the mean)."""
    claims = []
    for m in _CLAIM.finditer(think):
        try:
            t = float(m.group(3).strip())
            boxes = [json.loads(b) for b in _LIST.findall(m.group(2))]
        except ValueError:  # json.JSONDecodeError is a ValueError
            continue
        claims.append((t, boxes))
    return claims


def _closest_key(t: float, key_frames: Sequence[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """One-sided gate `gt - pred < 1`, then the nearest; ties keep the first."""
    closest, best = -1.0, float("inf")
    for kf in key_frames:
        g = kf["time"]
        if g - t < 1.0 and abs(g - t) < best:
            best, closest = abs(g - t), g
    if closest == -1:
        return None
    return next((kf for kf in key_frames if kf["time"] == closest), None)


def _frame_iou(boxes: list[Any], objects: Mapping[str, Any], size: Sequence[float]) -> float:
    best = 0.0
    for gt_boxes in objects.values():
        ious = []
        for g in gt_boxes:
            gt = [g[0] * size[0], g[1] * size[1], g[2] * size[0], g[3] * size[1]]
            ious.append(max([_iou(gt, b) for b in boxes]) if boxes else 0.0)
        if ious and sum(ious) / len(ious) > best:
            best = sum(ious) / len(ious)
    return best


def thk_spatial(text: str, task: str, answer: str, key_frames: Sequence[Mapping[str, Any]],
                key_items: Mapping[str, Any], image_size: Sequence[float],
                image_size_refine: Sequence[float]) -> float:
    think = _THINK.search(text)
    if not think or not _ANSWER_ANY.search(text):
        return 0.0
    if task == "visual QA":
        return _visual_spatial(think.group(1), answer, image_size, image_size_refine)
    if task != "temporal-spatial free-form QA":
        return 0.0
    claims = _claims(think.group(1))
    if not claims:
        return 0.0
    total = 0.0
    for t, boxes in claims:
        kf = _closest_key(t, key_frames)
        if kf is not None:
            total += _frame_iou(boxes, key_items.get(str(kf["idx"]), {}), image_size)
    return total / len(claims)


def _visual_spatial(think: str, answer: str, image_size: Sequence[float],
                    refine: Sequence[float]) -> float:
    m = _BOX.search(answer)
    try:
        gt = json.loads(m.group(1)) if m else None
    except ValueError:
        gt = None
    preds = []
    for raw in _BOX.findall(think):
        with contextlib.suppress(ValueError):
            preds.append(json.loads(raw))
    if not preds or gt is None:
        return 0.0
    gt = _to_refined(gt, image_size, refine)
    return max([0.0, *(_iou(gt, p) for p in preds)])


# ---- one completion, all seven; folded into our four terms ----------------------------


def released_scores(text: str, task: str, fields: Mapping[str, Any],
                    step_percent: float) -> dict[str, float]:
    """The seven released rewards of one completion (names as in the release)."""
    answer = fields["answer"]
    size, refine = fields["image_size"], fields["image_size_refine"]
    key_frames = fields["key_frames"]
    return {
        "ans_acc": ans_acc(text, task, answer),
        "ans_tiou": ans_tiou(text, task, answer),
        "ans_viou": ans_viou(text, task, answer, size, refine),
        "thk_temporal_point": thk_temporal_point(
            text, task, [kf["time"] for kf in key_frames], step_percent),
        "thk_temporal_segment": thk_temporal_segment(text, task, answer),
        "thk_spatial": thk_spatial(text, task, answer, key_frames, fields["key_items"],
                                   size, refine),
        "format": format_score(text, task),
    }


def released_terms(text: str, task: str, fields: Mapping[str, Any],
                   step_percent: float) -> dict[str, float]:
    """Our four terms as sums of the released rewards (accuracy may reach 2 on temporal
    MCQ: letter + tIoU, as the release adds them)."""
    scores = released_scores(text, task, fields, step_percent)
    return {term: sum(scores[n] for n in names) for term, names in TERMS.items()}
