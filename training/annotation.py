"""The RL reward annotation: what the rewards know about one sample, written once.

Owns `Annotation` and its JSON form. `training.data` builds one per RL sample and
stores `to_json()` in the TRL rows' `annotation` column; `training.rewards` reads it
back with `parse_annotation` (cached: GRPO scores every completion of a group against
the same annotation).

Invariants:
- `Annotation.from_json(a.to_json()) == a` for every annotation (boxes are float
  tuples in fed-frame pixels; key frames keep their order).
- `released` holds the record's raw fields exactly as the release's reward code reads
  them; nothing else here is read by `rl.rewards.mode: released`.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from service.grounding.types import Box, TaskType
from training.records import MCQ_TASKS, TEMPORAL_TASKS

KeyFrame = tuple[float, dict[str, tuple[Box, ...]]]


@dataclass(frozen=True)
class Annotation:
    """One sample's answer, key-frame boxes (fed pixels) and frame facts."""

    task: str
    answer: str
    letter: str | None = None
    span: tuple[float, float] | None = None
    key_frames: tuple[KeyFrame, ...] = ()
    gt_box: Box | None = None
    fed_size: tuple[int, int] | None = None
    duration: float | None = None
    n_options: int | None = None
    released: dict[str, Any] | None = None   # the record's raw fields (released mode)

    @property
    def task_type(self) -> TaskType:
        if self.task in TEMPORAL_TASKS:
            return TaskType.TEMPORAL
        return TaskType.MCQ if self.task in MCQ_TASKS else TaskType.FREE_FORM

    def to_json(self) -> str:
        return json.dumps({
            "task": self.task, "answer": self.answer, "letter": self.letter,
            "span": list(self.span) if self.span else None,
            "key_frames": [{"time": t, "boxes": {n: [list(b) for b in bs]
                                                 for n, bs in boxes.items()}}
                           for t, boxes in self.key_frames],
            "gt_box": list(self.gt_box) if self.gt_box else None,
            "fed_size": list(self.fed_size) if self.fed_size else None,
            "duration": self.duration, "n_options": self.n_options,
            "released": self.released,
        })

    @classmethod
    def from_json(cls, raw: str) -> Annotation:
        data = json.loads(raw)
        span, fed = data.get("span"), data.get("fed_size")
        return cls(
            task=data["task"], answer=data.get("answer", ""), letter=data.get("letter"),
            span=(float(span[0]), float(span[1])) if span else None,
            key_frames=tuple(_key_frame(kf) for kf in data.get("key_frames", [])),
            gt_box=as_box(data["gt_box"]) if data.get("gt_box") else None,
            fed_size=(int(fed[0]), int(fed[1])) if fed else None,
            duration=data.get("duration"), n_options=data.get("n_options"),
            released=data.get("released"),
        )


@lru_cache(maxsize=4096)
def parse_annotation(raw: str) -> Annotation:
    return Annotation.from_json(raw)


def as_box(values: Sequence[float]) -> Box:
    x1, y1, x2, y2 = (float(v) for v in values)
    return (x1, y1, x2, y2)


def _key_frame(kf: Mapping[str, Any]) -> KeyFrame:
    return (float(kf["time"]),
            {name: tuple(as_box(b) for b in boxes) for name, boxes in kf["boxes"].items()})
