"""The RL annotation is one type: what training.data writes, training.rewards reads."""

from __future__ import annotations

import pytest

from service.grounding.types import TaskType
from training.annotation import Annotation, parse_annotation

CASES = [
    Annotation(task="temporal QA", answer="From 1.0s to 4.5s", span=(1.0, 4.5),
               fed_size=(420, 224), duration=12.0),
    Annotation(task="temporal-spatial free-form QA", answer="a red circle",
               key_frames=((2.0, {"circle": ((10.0, 20.0, 60.0, 80.0),)}),
                           (3.5, {"circle": ((12.0, 22.0, 62.0, 82.0),),
                                  "square": ((1.0, 2.0, 3.0, 4.0), (5.0, 6.0, 7.0, 8.0))})),
               fed_size=(420, 224), duration=9.0, released={"key_frames": [{"time": 2}]}),
    Annotation(task="General video QA MCQ", answer="B", letter="B", n_options=4),
    Annotation(task="visual QA", answer="<obj>cat</obj><box>[1,2,3,4]</box>",
               gt_box=(1.0, 2.0, 3.0, 4.0), fed_size=(224, 224)),
]


@pytest.mark.parametrize("ann", CASES, ids=lambda a: a.task)
def test_json_round_trip_is_exact(ann: Annotation) -> None:
    assert Annotation.from_json(ann.to_json()) == ann
    assert parse_annotation(ann.to_json()) == ann


@pytest.mark.parametrize(("task", "kind"), [
    ("temporal QA", TaskType.TEMPORAL), ("temporal QA (MCQ)", TaskType.TEMPORAL),
    ("General video QA MCQ", TaskType.MCQ), ("General video QA Free-form", TaskType.FREE_FORM),
    ("temporal-spatial free-form QA", TaskType.FREE_FORM),
])
def test_task_type_follows_the_task_table(task: str, kind: TaskType) -> None:
    assert Annotation(task=task, answer="x").task_type is kind
