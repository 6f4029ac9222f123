"""MCQ (Table 13 from one request's traces) and TVGBench runners against the live
gateway with a scripted model: exact accuracies / IoUs, in each benchmark's format."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.bench.datasets import load_mcq, load_tvg
from clients.bench.mcq import McqConfig, run_mcq, summarize_mcq
from clients.bench.runner import ResultStore
from clients.bench.target import RequestOptions
from clients.bench.tvg import TvgConfig, run_tvg, summarize_run
from service.inference.doubles import ScriptedBackend
from tests.integration.bench.conftest import BenchService
from tests.integration.bench.support import script_by_marker, trace, write_clip, write_json
from tests.support.vllm_standin import StandinState

pytestmark = pytest.mark.asyncio

EVIDENCE = "the <obj>square</obj><box>[10,20,50,60]</box>at<t>1.0</t>s moves"


def _worldsense(root: Path) -> Path:
    """worldsense_qa.json: two videos, one task each, in the public layout."""
    videos = root / "videos"
    videos.mkdir()
    write_clip(videos / "ws1.mp4", (255, 0, 0))
    write_clip(videos / "ws2.mp4", (0, 0, 255))
    data = {
        vid: {"duration": "4s", "domain": dom, "sub_category": "x", "audio_class": [],
              "video_caption": "", "task1": {
                  "question": f"Which way does the square in {vid} move?",
                  "candidates": ["A. left", "B. right", "C. down-right", "D. up"],
                  "answer": ans, "task_domain": td, "task_type": "motion"}}
        for vid, dom, ans, td in (("ws1", "Sports", "C", "Recognition"),
                                  ("ws2", "Life", "A", "Reasoning"))}
    return write_json(root / "worldsense_qa.json", data)


async def test_mcq_three_aggregations_from_the_same_traces(
    tmp_path: Path, bench_service: BenchService
) -> None:
    path = _worldsense(tmp_path)
    # ws1: traces B, A, A, C; only C cites evidence, which the verifier rates 2:
    # weights 0.2, 0.2, 0.2, 1.0 (released-code mapping) -> single B (first votable),
    # majority A (2 votes), confidence C (1.0 > 0.4). Truth C.
    ws1 = [trace("B"), trace("A"), trace("A"), trace("C", think=EVIDENCE)]
    table = [(["square in ws1"], ws1), (["square in ws2"], [trace("A")] * 4)]

    def script(prompt, n, sampling):  # type: ignore[no-untyped-def]
        if "single digit" in prompt.system:  # the verifier's rating call (SPEC 4.3)
            return ["2"] * n
        return script_by_marker([(m, "\x00".join(t)) for m, t in table])(
            prompt, n, sampling)[0].split("\x00")

    state = StandinState()
    store = ResultStore(tmp_path / "out" / "records.jsonl")
    opts = RequestOptions(n=4, voting="confidence", temperature=1.0)
    async with bench_service(ScriptedBackend(script, scores=("2",)), state) as service:
        items = load_mcq("worldsense", path, tmp_path / "videos")
        stats = await run_mcq(items, service, store, McqConfig(opts, 2, False))
    assert (stats.asked, stats.failed) == (2, 0)
    # one sampling request per question (n=4 in it) + one verifier call (ws1's C trace)
    sample_requests = [r for r in state.requests if r.get("n") == 4]
    assert len(sample_requests) == 2
    s = summarize_mcq(items, store.load())
    assert s.accuracy == pytest.approx({"single": 0.5, "majority": 0.5, "confidence": 1.0})
    assert s.recompute_mismatches == 0
    rec = store.load()["ws1:task1"]
    assert rec["answers"]["single"] == "B" and rec["answers"]["majority"] == "A"
    assert s.by_group["task_domain"]["confidence"] == {
        "Reasoning": (1.0, 1), "Recognition": (1.0, 1)}
    assert s.by_group["task_domain"]["majority"]["Recognition"] == (0.0, 1)


async def test_tvg_miou_and_recall(tmp_path: Path, bench_service: BenchService) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    write_clip(videos / "TV001.mp4", (255, 0, 0))
    write_clip(videos / "TV002.mp4", (0, 255, 0))
    rows = [  # the public tvgbench.json layout; `path` does not exist here: found by name
        {"path": "./dataset/timer1/videos/tvgbench_data/TV001.mp4", "question": "red square",
         "answer": "1.0-3.0", "start": None, "end": None, "duration": 4.0,
         "question_type": "video temporal grounding", "dataset_name": "charades",
         "qsemtype": "Human Pose"},
        {"path": "./dataset/timer1/videos/tvgbench_data/TV002.mp4", "question": "green square",
         "answer": "0.0-2.0", "start": None, "end": None, "duration": 4.0,
         "question_type": "video temporal grounding", "dataset_name": "charades",
         "qsemtype": "Object Transition"},
    ]
    path = write_json(tmp_path / "tvgbench.json", rows)
    script = script_by_marker([
        (["red square"], trace("From <t>1.0</t>s to <t>3.0</t>s")),    # IoU 1
        (["green square"], trace("From <t>1.0</t>s to <t>2.0</t>s")),  # IoU 0.5
    ])
    store = ResultStore(tmp_path / "out" / "records.jsonl")
    async with bench_service(ScriptedBackend(script)) as service:
        items = load_tvg(path, videos)
        await run_tvg(items, service, store, TvgConfig(progress=False))
    overall, groups = summarize_run(items, store.load())
    assert overall.m_iou == pytest.approx(0.75)
    assert overall.recall == pytest.approx({0.3: 1.0, 0.5: 1.0, 0.7: 0.5})
    assert groups["qsemtype:Object Transition"].m_iou == pytest.approx(0.5)
