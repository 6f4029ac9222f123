"""Our V-STAR metrics (clients/bench/metrics.py) against the benchmark's own eval.py.

tests/golden/vstar_eval_metrics.jsonl was made by running `evaluate_json` of
V-STaR-Bench/V-STaR `eval.py` (and open_o3_eval_vstar_metrics.jsonl of the Open-o3
release's `eval/test/eval_vstar.py`) on 30 generated result files each, with scripted
judge replies (`scripts/golden/vstar_metrics.py`). Per sample: the judge score, both
chains' temporal IoU, visual IoU and AP@0.1..0.9; per file: the printed overall Acc,
mean tIoU / vIoU per chain, AM1/AM2/mAM and LGM1/LGM2/mLGM (4 decimals).

Where eval.py raises (ln of 0 or less in a per-group LGM) the per-sample values and
the overall block it printed before are still compared; ours never raises
(`lgm_clamped`, see `DOCUMENTED`).
"""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

import pytest

from clients.bench.metrics import (
    GtBox,
    VStarScored,
    parse_judge_score,
    score_vstar_sample,
    summarize_vstar,
)
from service.grounding import released as rel

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
TABLES = ["vstar_eval_metrics.jsonl", "open_o3_eval_vstar_metrics.jsonl"]


@cache
def table(name: str) -> tuple[dict[str, Any], ...]:
    with (GOLDEN / name).open() as f:
        return tuple(json.loads(line) for line in f)


def ours(item: dict[str, Any], replies: dict[str, str], open_o3: bool) -> VStarScored:
    answer = item.get("answer_vqa")
    judge = parse_judge_score(replies[answer]) if answer else None
    spans = [item["answer_temporal"], item["answer_temporal_2"]]
    if open_o3:  # eval_vstar.py re-reads an empty range from the raw answer
        pres = [item["answer_temporal_pre"], item["answer_temporal_pre_2"]]
        spans = [rel.timestamps(p) if s == [] else s for s, p in zip(spans, pres, strict=True)]
    boxes = [GtBox(b["timestamp"], (b["xmin"], b["ymin"], b["xmax"], b["ymax"]))
             for b in item["bboxes"]]
    return score_vstar_sample(
        judge_score=judge, gt_span=item["timestamps"], gt_boxes=boxes,
        pred_spans=(spans[0], spans[1]),
        pred_boxes=(item["answer_spatial"], item["answer_spatial_2"]),
        domain=item["domain"], video_seconds=round(item["frame_count"] / item["fps"], 2))


def per_sample(s: VStarScored) -> dict[str, Any]:
    return {"VQA_score": s.judge_score, "temporal_IoU": s.tiou[0], "temporal_IoU_2": s.tiou[1],
            "spatial_mIoU": s.viou[0], "spatial_mIoU_2": s.viou[1],
            "AP1@0.1:0.9": list(s.aps[0]), "AP2@0.1:0.9": list(s.aps[1])}


@pytest.mark.parametrize("name", TABLES)
def test_per_sample_scores_equal_the_benchmarks(name: str) -> None:
    rows = table(name)
    assert len(rows) >= 40
    checked = 0
    for row in rows:
        for item, theirs in zip(row["data"], row["result"]["per_sample"], strict=True):
            if not theirs:  # eval.py skipped it (no "what" answer): so do we
                assert not item.get("answer_vqa")
                continue
            got = per_sample(ours(item, row["judge_replies"], "open_o3" in name))
            assert got.keys() == theirs.keys()
            for key, value in theirs.items():
                assert got[key] == pytest.approx(value, abs=1e-12), (row["id"], item["vid"], key)
            checked += 1
    assert checked >= 400


@pytest.mark.parametrize("name", TABLES)
def test_overall_acc_means_am_lgm_equal_the_benchmarks(name: str) -> None:
    for row in table(name):
        items = row["data"]
        scored = [ours(it, row["judge_replies"], "open_o3" in name) for it in items]
        s = summarize_vstar(scored, total=len(items), groups=False)
        c1, c2 = s.chains
        got = {"accuracy": [s.accuracy], "tiou": [c1.m_tiou, c2.m_tiou],
               "viou": [c1.m_viou, c2.m_viou], "am": [c1.am, c2.am, s.m_am],
               "lgm": [c1.lgm, c2.lgm, s.m_lgm]}
        want = row["result"]["overall"]
        for key, values in got.items():
            assert [round(v, 4) for v in values] == pytest.approx(want[key], abs=1.5e-4), (
                row["id"], key)


def test_the_tables_hold_the_edge_cases_they_are_meant_to() -> None:
    items = [it for r in table(TABLES[0]) for it in r["data"]]
    spans = [it["answer_temporal"] for it in items]
    assert any(isinstance(s, str) for s in spans) and any(s == [] for s in spans)
    assert any(isinstance(s, list) and len(s) == 2 and s[0] is True for s in spans)
    assert any(isinstance(b, list) for it in items for b in [it["answer_spatial"]])
    assert any(not it.get("answer_vqa") for it in items)
    assert any("error" in r["result"] for r in table(TABLES[0]))  # eval.py raised there
