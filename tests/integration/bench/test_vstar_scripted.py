"""V-STAR runner end to end against the live gateway with a scripted model: exact scores.

Three samples in V_STaR_test.json format on generated videos, answers scripted per
question, judged by the offline lenient judge; the expected metrics are computed by
hand below. A fourth sample's video is missing at first: a failure record, retried on
resume once the file exists (and only it is asked again).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from clients.bench.datasets import load_vstar
from clients.bench.judges import LenientJudge
from clients.bench.runner import ResultStore
from clients.bench.vstar import VStarConfig, run_vstar, summarize_run
from service.grounding.grammar import format_evidence
from service.inference.doubles import ScriptedBackend
from tests.integration.bench.conftest import BenchService
from tests.integration.bench.support import (
    box_at,
    script_by_marker,
    trace,
    vstar_record,
    write_clip,
    write_json,
)
from tests.support.vllm_standin import StandinState

pytestmark = pytest.mark.asyncio


def _box_json(boxes: dict[str, list[float]]) -> str:
    return json.dumps({k: [int(v) for v in b] for k, b in boxes.items()})


def _dataset(root: Path) -> tuple[Path, Path, ScriptedBackend]:
    videos = root / "videos"
    videos.mkdir()
    a = write_clip(videos / "clipA.mp4", (255, 0, 0))
    b = write_clip(videos / "clipB.mp4", (0, 0, 255))
    c = write_clip(videos / "clipC.mp4", (0, 255, 0))
    records = [
        vstar_record("clipA", "Sports", a, (1, 3), "red"),
        vstar_record("clipB", "Life", b, (0, 2), "blue"),
        vstar_record("clipC", "Life", c, (1, 2), "green"),
        vstar_record("clipD", "Life", c, (1, 2), "green"),   # video written later
    ]
    evidence_a2 = format_evidence("square", [tuple(box_at(a, 2.0))], 2.0)  # type: ignore[list-item]
    script = script_by_marker([
        # --- clipA: right answer, exact chain-1, half chain-2 ---
        (["colour is the square in clipA"], trace("Red.")),                      # judged 3
        (["in clipA cross", "without their times"], trace("From 2.0 to 3.0")),   # tIoU 1/2
        (["in clipA cross"], trace("From <t>1.0</t>s to <t>3.0</t>s")),           # tIoU 1
        (["square in clipA while"],                                                # vIoU 1
         trace(_box_json({str(t): box_at(a, t) for t in (1, 2, 3)}))),
        (["square in clipA at the"], trace("it is there", think=f"I see {evidence_a2}")),
        # --- clipB: wrong answer, partial chain-1, nothing in chain 2 ---
        (["colour is the square in clipB"], trace("green")),                     # judged 0
        (["in clipB cross", "without their times"], trace("no idea")),            # tIoU 0
        (["in clipB cross"], trace("From <t>1.0</t>s to <t>3.0</t>s")),           # 1/3
        (["square in clipB while"], trace(_box_json({"0": box_at(b, 0)}))),        # 1/3
        (["square in clipB at the"], trace(_box_json({"9": box_at(b, 0)}))),       # 0
        # --- clipC: no parsable answer -> unanswered (skipped, in the Acc denominator)
    ])
    data = write_json(root / "V_STaR_test.json", records)
    return data, videos, ScriptedBackend(script)


async def test_vstar_exact_scores_and_resume(tmp_path: Path, bench_service: BenchService) -> None:
    data, videos, backend = _dataset(tmp_path)
    store = ResultStore(tmp_path / "out" / "records.jsonl")
    state = StandinState()
    cfg = VStarConfig(progress=False, protocol="serving")  # the markers are our wording
    async with bench_service(backend, state) as service:
        items = load_vstar(data, videos)
        first = await run_vstar(items, service, LenientJudge(), store, cfg)
        assert (first.asked, first.failed) == (4, 1)
        assert state.completed == 15                 # 3 samples x 5 requests
        s = summarize_run(items, store)
        # clipD failed (no video): counted like a sample without answer
        assert s.total == 4 and s.answered == 2
        assert s.accuracy == pytest.approx(1 / 4)
        c1, c2 = s.chains
        assert c1.m_tiou == pytest.approx((1 + 1 / 3) / 2)
        assert c2.m_tiou == pytest.approx(0.5 / 2)
        assert c1.m_viou == pytest.approx((1 + 1 / 3) / 2)
        assert c1.m_viou_skip_missing == pytest.approx(1.0)
        assert c2.m_viou == pytest.approx((1 / 3 + 0) / 2)
        assert c1.recall == pytest.approx({0.3: 1.0, 0.5: 0.5, 0.7: 0.5})
        assert s.m_am == pytest.approx((c1.am + c2.am) / 2)
        records = store.load()
        assert records["00000:clipA"]["box_sources"] == ["answer", "evidence"]
        assert "FileNotFoundError" in records["00003:clipD"]["error"]

        write_clip(videos / "clipD.mp4", (0, 255, 0))
        again = await run_vstar(load_vstar(data, videos), service, LenientJudge(), store, cfg)
        assert (again.asked, again.skipped, again.failed) == (1, 3, 0)
        assert state.completed == 20                 # only clipD's 5 questions were asked
        assert store.load()["00003:clipD"]["ok"]
        # clipD's questions are not scripted (no answer): still unanswered, same scores
        after = summarize_run(items, store)
        assert (after.answered, after.accuracy) == (2, pytest.approx(1 / 4))
