"""STGR record validation: good records load, bad ones name file, index, id and field."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from training.records import RecordError, load_records, validate_record


def _record(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "id": 7, "task": "temporal-spatial free-form QA", "source": "synth",
        "question": "What moves?", "answer": "the red square",
        "video_path": "v.mp4", "image_path": None, "image_size": None,
        "key_frames": [{"idx": 12, "time": 1.5, "path": "kf/12.jpg"}],
        "key_items": {"12": {"square": [[0.1, 0.2, 0.3, 0.4]]}},
        "reasoning_process": "<obj>square</obj><box>[0.1,0.2,0.3,0.4]</box>at<t>1.5</t>s",
    }
    base.update(changes)
    return base


def test_good_record_loads_and_drops_null_items() -> None:
    rec = validate_record(_record(key_items={"12": {"square": [[0.1, 0.2, 0.3, 0.4]],
                                                    "gone": None}}), kind="sft")
    assert rec.id == "7" and rec.key_times == (1.5,)
    assert list(rec.key_items["12"]) == ["square"]  # the released loader drops nulls too


BAD = [
    # unknown task name
    (_record(task="video QA"), "task"),
    # video task without a video
    (_record(video_path=None), "needs video_path"),
    # image task without an image
    (_record(task="visual QA", video_path=None), "needs image_path"),
    # box not normalized (pixels given by mistake)
    (_record(key_items={"12": {"square": [[10, 20, 30, 40]]}}), "not normalized"),
    # corners swapped
    (_record(key_items={"12": {"square": [[0.5, 0.2, 0.3, 0.4]]}}), "x1 > x2"),
    # a box with three numbers
    (_record(key_items={"12": {"square": [[0.1, 0.2, 0.3]]}}), "key_items"),
    # key_items keyed by a frame that is not among key_frames
    (_record(key_items={"99": {"square": [[0.1, 0.2, 0.3, 0.4]]}}), "match no key_frames"),
    # negative key-frame time
    (_record(key_frames=[{"idx": 12, "time": -1.0}]), "key_frames.0.time"),
    # SFT record without reasoning
    (_record(reasoning_process=None), "reasoning_process"),
    # empty question
    (_record(question=""), "question"),
]


@pytest.mark.parametrize(("raw", "message"), BAD)
def test_bad_record_names_field(raw: dict[str, Any], message: str) -> None:
    with pytest.raises(RecordError, match=message) as info:
        validate_record(raw, kind="sft", where="STGR-SFT.json[3]")
    assert "STGR-SFT.json[3]" in str(info.value) and "id=7" in str(info.value)


def test_rl_records_need_no_reasoning() -> None:
    assert validate_record(_record(reasoning_process=None), kind="rl").reasoning_process is None


def test_load_records_reports_position(tmp_path: Path) -> None:
    path = tmp_path / "STGR-RL.json"
    path.write_text(json.dumps([_record(), _record(id="x9", task="nope")]))
    with pytest.raises(RecordError, match=r"STGR-RL.json\[1\] \(id=x9\)"):
        load_records(path, kind="rl")


def test_load_records_limit_and_jsonl(tmp_path: Path) -> None:
    path = tmp_path / "r.jsonl"
    path.write_text("\n".join(json.dumps(_record(id=i)) for i in range(5)))
    assert [r.id for r in load_records(path, kind="rl", limit=2)] == ["0", "1"]


def test_temporal_answer_list_becomes_text() -> None:
    rec = validate_record(_record(task="temporal QA", answer=[1.5, 3.0]), kind="rl")
    assert rec.answer == "[1.5, 3.0]"
