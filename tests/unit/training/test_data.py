"""Sample-building pieces that need no video: key-frame insertion, answers, box rewriting."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from training.config import DataConfig
from training.data import (
    SampleError,
    canonical_answer,
    merge_key_times,
    normalized_to_fed,
    parse_span,
    resolve_media,
    rewrite_boxes,
)
from training.records import validate_record

MERGE = [
    # key times are inserted among uniform ones, sorted
    ([0.0, 2.0, 4.0], [1.3], 10.0, 16, [0.0, 1.3, 2.0, 4.0]),
    # a uniform time within half a frame (0.05 s at 10 fps) of a key time is replaced
    ([0.0, 2.0, 4.0], [2.04], 10.0, 16, [0.0, 2.04, 4.0]),
    # over the cap: the uniform frame nearest a key frame goes first
    ([0.0, 2.0, 4.0, 6.0], [3.5], 10.0, 4, [0.0, 2.0, 3.5, 6.0]),
    # duplicate key times count once
    ([0.0, 4.0], [1.0, 1.0], 10.0, 16, [0.0, 1.0, 4.0]),
    # no key frames: the uniform times unchanged
    ([0.0, 1.0], [], 30.0, 16, [0.0, 1.0]),
]


@pytest.mark.parametrize(("uniform", "keys", "fps", "cap", "expected"), MERGE)
def test_merge_key_times(
    uniform: list[float], keys: list[float], fps: float, cap: int, expected: list[float]
) -> None:
    assert merge_key_times(uniform, keys, fps, cap) == expected


def _rec(task: str, answer: str, **extra: Any) -> Any:
    base = {"id": 1, "task": task, "question": "q", "answer": answer, "video_path": "v.mp4"}
    return validate_record({**base, **extra}, kind="rl")


ANSWERS = [
    # temporal: the stored [s, e] becomes the grammar's `From <t>..` answer
    (_rec("temporal QA", "[1.5, 3.25]"), ("From <t>1.5</t>s to <t>3.2</t>s", None, (1.5, 3.25))),
    # temporal MCQ: "B\n[s, e]" -> span + letter in the SPEC 2 form
    (_rec("temporal QA (MCQ)", "B\n[2, 4]"),
     ("From <t>2.0</t>s to <t>4.0</t>s.\nCorrect Option: B", "B", (2.0, 4.0))),
    # MCQ: the letter is read from "C." too
    (_rec("General video QA MCQ", "C."), ("C.", "C", None)),
    # free-form: kept as written
    (_rec("General video QA Free-form", " a dog "), ("a dog", None, None)),
]


@pytest.mark.parametrize(("record", "expected"), ANSWERS)
def test_canonical_answer(record: Any, expected: tuple[Any, ...]) -> None:
    assert canonical_answer(record) == expected


def test_unreadable_answers_name_the_record() -> None:
    with pytest.raises(SampleError, match="record 1"):
        canonical_answer(_rec("temporal QA", "sometime"))
    with pytest.raises(SampleError, match="no option letter"):
        canonical_answer(_rec("General video QA MCQ", "42"))


SPANS = [
    ("[1.0, 2.5]", (1.0, 2.5)),                          # list form of the released data
    ("From <t>3.0</t>s to <t>1.0</t>s", (1.0, 3.0)),      # grammar form, swapped ends fixed
    ("no span", None),                                    # nothing to read
]


@pytest.mark.parametrize(("text", "expected"), SPANS)
def test_parse_span(text: str, expected: tuple[float, float] | None) -> None:
    assert parse_span(text) == expected


def test_rewrite_boxes_normalized_to_fed_pixels() -> None:
    text = "<obj>a</obj><box>[0.1,0.5,0.5,1.0]</box>at<t>1.0</t>s and <box>[10,20,30,40]</box>"
    out = rewrite_boxes(text, normalized_to_fed((100, 50)))
    # normalized boxes become integer fed pixels; pixel boxes are left as written
    assert out == "<obj>a</obj><box>[10,25,50,50]</box>at<t>1.0</t>s and <box>[10,20,30,40]</box>"


def test_missing_media_says_which_setting(tmp_path: Path) -> None:
    rec = validate_record({"id": 5, "task": "temporal QA", "question": "q", "answer": "[1,2]",
                           "video_path": "x.mp4", "source": "kinetics"}, kind="rl")
    with pytest.raises(SampleError, match=r"data\.video_roots for source 'kinetics'"):
        resolve_media(rec, DataConfig(), tmp_path)
    (tmp_path / "k").mkdir()
    (tmp_path / "k" / "x.mp4").write_bytes(b"")
    cfg = DataConfig(video_roots={"kinetics": str(tmp_path / "k")})
    assert resolve_media(rec, cfg, Path("/nonexistent")) == tmp_path / "k" / "x.mp4"


def test_every_box_in_a_record_text_reaches_fed_pixels() -> None:
    from service.grounding.types import FrameSetMeta
    from training.data import sft_target

    # visual QA: reasoning AND answer boxes are in `image_size` pixels (released data)
    image = validate_record({
        "id": "v1", "task": "visual QA", "question": "Where is the cat?", "image_path": "i.png",
        "image_size": [200, 100], "answer": "<obj>cat</obj><box>[20,10,60,50]</box>",
        "reasoning_process": "The <obj>cat</obj><box>[20,10,60,50]</box> sits left."}, kind="sft")
    meta = FrameSetMeta(times=(0.0,), fed_size=(100, 50), orig_size=(200, 100))
    assert sft_target(image, meta) == (
        "<think>The <obj>cat</obj><box>[10,5,30,25]</box> sits left.</think>\n"
        "<answer><obj>cat</obj><box>[10,5,30,25]</box></answer>")
    # video: normalized boxes (released data) and original display pixels both convert
    video = validate_record({
        "id": "v2", "task": "temporal-spatial free-form QA", "question": "q", "answer": "a dog",
        "video_path": "v.mp4",
        "reasoning_process": "<obj>a</obj><box>[0.5,0.5,1.0,1.0]</box>at<t>1.0</t>s and "
                             "<obj>b</obj><box>[320,180,640,360]</box>at<t>2.0</t>s"}, kind="sft")
    vmeta = FrameSetMeta(times=(0.0,), fed_size=(112, 56), orig_size=(640, 360))
    assert sft_target(video, vmeta) == (
        "<think><obj>a</obj><box>[56,28,112,56]</box>at<t>1.0</t>s and "
        "<obj>b</obj><box>[56,28,112,56]</box>at<t>2.0</t>s</think>\n<answer>a dog</answer>")
