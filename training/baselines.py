"""Baselines for the held-out table: what a model that ignores the video would score.

Owns `constant_traces(train_samples)`: for each task, ONE well-formed trace built from
training-set statistics only (the training-mean span and answer box, the most frequent
option letter and free-form answer, the training-mean key-frame box and time for
evidence), and `evaluate_constant`, which scores that same trace on every held-out
record of its task with the training rewards. A trained model has learnt something from
the frames only where it beats this row.

Invariant: nothing here reads a held-out annotation to build a trace.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from service.grounding import grammar
from training.annotation import parse_annotation
from training.config import DataConfig, RewardConfig
from training.data import Sample, iter_samples
from training.evaluate import EvalReport, score_samples


def _mean(values: list[float]) -> float:
    return sum(values) / len(values) if values else 0.0


def _mean_box(boxes: list[tuple[float, float, float, float]]) -> tuple[float, float, float, float]:
    x1, y1, x2, y2 = (_mean([b[i] for b in boxes]) for i in range(4))
    return (x1, y1, x2, y2)


def _stats(samples: Iterable[Sample]) -> dict[str, dict[str, Any]]:
    per: dict[str, dict[str, Any]] = defaultdict(lambda: {
        "spans": [], "letters": Counter(), "answers": Counter(), "gt_boxes": [],
        "key_boxes": [], "key_times": []})
    for sample in samples:
        ann, st = parse_annotation(sample.annotation), per[sample.task]
        if ann.span:
            st["spans"].append(ann.span)
        if ann.letter:
            st["letters"][ann.letter] += 1
        st["answers"][ann.answer] += 1
        if ann.gt_box:
            st["gt_boxes"].append(ann.gt_box)
        for time, named in ann.key_frames:
            st["key_times"].append(time)
            st["key_boxes"].extend(b for boxes in named.values() for b in boxes)
    return dict(per)


def _evidence(st: dict[str, Any]) -> str:
    if not st["key_boxes"]:
        return "the shape"
    box, t = _mean_box(st["key_boxes"]), _mean(st["key_times"])
    return grammar.format_evidence("shape", [box], t)


def _modal(values: list[Any]) -> Any:
    return Counter(tuple(v) for v in values).most_common(1)[0][0]


def constant_trace(task: str, st: dict[str, Any], stat: str = "mean") -> str:
    """The one trace this baseline writes for every record of `task`: the training-mean
    span and box (`stat="mean"`), or the most frequent ones (`"mode"`: the stronger
    constant when answers sit on a grid, as in the `grid` recipe)."""
    if task in ("temporal QA", "temporal QA (MCQ)"):
        if stat == "mode":
            s, e = _modal(st["spans"])
        else:
            s, e = _mean([x[0] for x in st["spans"]]), _mean([x[1] for x in st["spans"]])
        think = (f"The shape is first seen at <t>{grammar.format_time(s)}</t>s and last seen "
                 f"at <t>{grammar.format_time(e)}</t>s.")
        if task == "temporal QA":
            return grammar.format_trace(think, grammar.format_temporal_answer(s, e))
        letter = st["letters"].most_common(1)[0][0]
        return grammar.format_trace(think, grammar.format_temporal_mcq_answer(s, e, letter))
    if task == "visual QA":
        box = grammar.format_box(_modal(st["gt_boxes"]) if stat == "mode"
                                 else _mean_box(st["gt_boxes"]))
        mention = f"<obj>shape</obj><box>{box}</box>"
        return grammar.format_trace(f"The {mention} is the shape.", mention)
    answer = (st["letters"].most_common(1)[0][0] if st["letters"]
              else st["answers"].most_common(1)[0][0])
    return grammar.format_trace(f"I see {_evidence(st)}.", answer)


def constant_traces(train_samples: Iterable[Sample], stat: str = "mean") -> dict[str, str]:
    return {task: constant_trace(task, st, stat) for task, st in _stats(train_samples).items()}


def evaluate_constant(
    train_json: str | Path, heldout_json: str | Path, data_cfg: DataConfig,
    rewards: RewardConfig | None = None, stat: str = "mean",
) -> tuple[EvalReport, dict[str, str]]:
    """Score the constant traces on the held-out records (the same rewards as a model)."""
    traces = constant_traces(iter_samples(train_json, data_cfg, "rl", served=True), stat)
    samples = iter_samples(heldout_json, data_cfg, "rl", served=True)
    report = score_samples(samples, lambda s: [traces[s.task]], rewards or RewardConfig())
    return report, traces
