"""Reading predictions from answers, the benchmarks' file formats, and the resumable
JSONL store / runner (failures recorded, bounded concurrency)."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import pytest

from clients.bench.answers import boxes_of, parse_box_json, span_from_text, span_of
from clients.bench.datasets import DatasetError, lettered, load_mcq, load_tvg, load_vstar
from clients.bench.runner import Keyed, ResultStore, run_all
from clients.sdk import ReasonResult


def _result(answer: str | None, *, span: list[float] | None = None,
            evidence: list[dict[str, Any]] | None = None,
            fed: tuple[int, int] = (100, 50), orig: tuple[int, int] = (200, 100)
            ) -> ReasonResult:
    return ReasonResult.model_validate({
        "id": "r", "answer": answer, "span": span, "evidence": evidence or [],
        "frames": {"fed_size": list(fed), "original_size": list(orig)}})


BOX_TEXT_CASES = [
    # plain JSON object
    ('{"1": [1, 2, 3, 4]}', {"1": [1, 2, 3, 4]}),
    # fenced, single quotes (the reference replaces them)
    ("```json\n{'2': [1, 2, 3, 4]}\n```", {"2": [1, 2, 3, 4]}),
    # a list of one-key objects is merged
    ('[{"1": [1, 2, 3, 4]}, {"2": [5, 6, 7, 8]}]', {"1": [1, 2, 3, 4], "2": [5, 6, 7, 8]}),
    # missing closing brackets are completed
    ('The boxes: {"1": [1, 2, 3, 4], "2": [5, 6, 7, 8', {"1": [1, 2, 3, 4], "2": [5, 6, 7, 8]}),
    # float-second keys are kept as written (the metric decides: "1.0" != "1")
    ('{"1.0": [1, 2, 3, 4]}', {"1.0": [1, 2, 3, 4]}),
    # prose: nothing
    ("the square is at the top left", {}),
    # garbage brackets: nothing, never raises
    ("{{{[[[", {}),
]


@pytest.mark.parametrize(("text", "want"), BOX_TEXT_CASES)
def test_parse_box_json(text: str, want: dict[str, Any]) -> None:
    assert parse_box_json(text) == want


def test_answer_boxes_scaled_from_fed_to_original_pixels() -> None:
    # fed 100x50, original 200x100: every coordinate doubles
    boxes, source = boxes_of(_result('{"3": [10, 10, 20, 20]}'))
    assert source == "answer" and boxes == {"3": [20.0, 20.0, 40.0, 40.0]}


def test_evidence_boxes_used_when_the_answer_has_none() -> None:
    ev = [{"object": "cup", "time": 2.4, "box": [1, 2, 3, 4], "box_normalized": [0] * 4,
           "box_display_normalized": [0] * 4},
          {"object": "cup", "time": 1.6, "box": [5, 6, 7, 8], "box_normalized": [0] * 4,
           "box_display_normalized": [0] * 4}]
    boxes, source = boxes_of(_result("a cup", evidence=ev))
    # both round to second 2: several boxes for one second stay a list
    assert source == "evidence" and boxes == {"2": [[1, 2, 3, 4], [5, 6, 7, 8]]}
    # answer-only mode does not fall back
    assert boxes_of(_result("a cup", evidence=ev), "answer") == ({}, "answer")


@pytest.mark.parametrize(("result", "want"), [
    (_result("From 1 to 2", span=[1.0, 2.0]), [1.0, 2.0]),   # the service's voted span
    (_result("between 3.5 and 6 seconds"), [3.5, 6.0]),       # exactly two numbers
    (_result("at 1, 2 or 3"), []),                            # three numbers: none
    (_result(None), []),                                      # abstained
])
def test_span_of(result: ReasonResult, want: list[float]) -> None:
    assert span_of(result) == want


def test_span_from_text_ignores_words() -> None:
    assert span_from_text("from second 4 to second 9") == [4.0, 9.0]


def test_vstar_loader_reads_both_bbox_layouts_and_split_vids(tmp_path: Path) -> None:
    (tmp_path / "v" / "sub").mkdir(parents=True)
    (tmp_path / "v" / "sub" / "part2.mp4").write_bytes(b"x")
    base = {"domain": "d", "fps": 10, "width": 8, "height": 8, "frame_count": 40,
            "question": "q", "answer": "a", "temporal_question": "t",
            "timestamps": [1, 2], "spatial_question": "s", "spatial_question_2": "s2"}
    rows = [
        {**base, "vid": "part1&part2",   # found by one of its parts, in a subfolder
         "bboxes": [{"timestamp": 1, "frame_index": 10, "xmin": 0, "ymin": 0, "xmax": 4,
                     "ymax": 4}]},
        {**base, "vid": "gone",          # first-release layout; video missing
         "bboxes": [{"2_20": {"xmin": 1, "ymin": 1, "xmax": 2, "ymax": 2}}]},
    ]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    items = load_vstar(tmp_path / "a.json", tmp_path / "v")
    assert items[0].video is not None and items[0].video.name == "part2.mp4"
    assert items[0].gt_boxes[0].key == "1" and items[0].length_s == 4.0
    assert items[1].video is None and items[1].gt_boxes[0].key == "2"
    (tmp_path / "bad.json").write_text(json.dumps([{"vid": "x"}]))
    with pytest.raises(DatasetError, match="record 0"):
        load_vstar(tmp_path / "bad.json", tmp_path / "v")


def test_lettered_options() -> None:
    # VideoMME/WorldSense options carry letters already; VideoMMMU's may not
    assert lettered(["A. x", "B. y"]) == ("A. x", "B. y")
    assert lettered(["x", "y"]) == ("A. x", "B. y")


def test_videommmu_rows_track_and_open_questions(tmp_path: Path) -> None:
    folder = tmp_path / "Adaptation"
    folder.mkdir()
    rows = [{"id": "q1", "question": "?", "options": ["1", "2"], "answer": "B",
             "question_type": "multiple-choice"},
            {"id": "q2", "question": "?", "options": [], "answer": "42",
             "question_type": "open"}]
    (folder / "test.jsonl").write_text("\n".join(json.dumps(r) for r in rows))
    items = load_mcq("videommmu", folder / "test.jsonl", tmp_path)
    assert items[0].options == ("A. 1", "B. 2") and items[0].groups == {"track": "Adaptation"}
    assert items[1].options is None and items[1].answer == "42"


def test_tvg_loader_reads_answer_range(tmp_path: Path) -> None:
    (tmp_path / "vid.mp4").write_bytes(b"x")
    rows = [{"path": "vid.mp4", "question": "q", "answer": "13.4-28.1", "duration": 30.1,
             "dataset_name": "charades", "qsemtype": "Human Pose"}]
    (tmp_path / "t.json").write_text(json.dumps(rows))
    item = load_tvg(tmp_path / "t.json", tmp_path / "none")[0]
    assert item.span == (13.4, 28.1) and item.video == tmp_path / "vid.mp4"


def test_store_ignores_torn_lines_and_latest_record_wins(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.jsonl")
    store.append({"key": "a", "ok": False, "error": "boom"})
    store.append({"key": "a", "ok": True, "x": 1})
    with store.path.open("a") as f:
        f.write('{"key": "b", "ok": tr')       # an interrupted write
    assert store.load()["a"] == {"key": "a", "ok": True, "x": 1}
    assert store.done_keys() == {"a"}


def test_run_all_records_failures_bounds_concurrency_and_resumes(tmp_path: Path) -> None:
    store = ResultStore(tmp_path / "r.jsonl")
    in_flight, peak, calls = 0, 0, []

    async def work(i: int) -> dict[str, Any]:
        nonlocal in_flight, peak
        calls.append(i)
        in_flight += 1
        peak = max(peak, in_flight)
        await asyncio.sleep(0.01)
        in_flight -= 1
        if i == 3:
            raise RuntimeError("sample 3 broke")
        return {"value": i * 10}

    items = [Keyed(f"k{i}", i) for i in range(6)]
    stats = asyncio.run(run_all(items, work, store, concurrency=2, progress=False))
    assert (stats.asked, stats.failed, peak) == (6, 1, 2)
    assert store.load()["k3"]["error"] == "RuntimeError: sample 3 broke"
    assert store.load()["k4"]["value"] == 40
    calls.clear()
    again = asyncio.run(run_all(items, work, store, concurrency=2, progress=False))
    assert calls == [3] and (again.asked, again.skipped) == (1, 5)   # only the failure
