"""Every runner end to end on the tiny random checkpoint (real model, random text):
the run completes, records every sample, and every score lies in its range."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.bench.datasets import load_mcq, load_tvg, load_vstar
from clients.bench.judges import LenientJudge
from clients.bench.mcq import McqConfig, run_mcq, summarize_mcq
from clients.bench.runner import ResultStore
from clients.bench.target import RequestOptions
from clients.bench.tvg import TvgConfig, run_tvg
from clients.bench.tvg import summarize_run as tvg_summary
from clients.bench.vstar import VStarConfig, run_vstar, summarize_run
from service.inference.local_hf import LocalHFBackend
from tests.integration.bench.conftest import BenchService
from tests.integration.bench.support import vstar_record, write_clip, write_json

pytestmark = pytest.mark.asyncio
OPTS = RequestOptions(n=1, voting="single", temperature=1.0, max_tokens=24, seed=0,
                      num_frames=4)


def _in_unit(*values: float) -> bool:
    return all(0.0 <= v <= 1.0 for v in values)


async def test_all_runners_on_tiny_checkpoint(
    tmp_path: Path, bench_service: BenchService, local_backend: LocalHFBackend
) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    truth = write_clip(videos / "clip.mp4", (255, 0, 0))
    vstar_data = write_json(tmp_path / "V_STaR_test.json",
                            [vstar_record("clip", "Life", truth, (1, 2), "red")])
    mme = write_json(tmp_path / "videomme.json", [{
        "videoID": "clip", "question_id": "001-1", "duration": "short", "domain": "Life",
        "sub_category": "x", "task_type": "Counting Problem",
        "question": "How many squares are there?", "options": ["A. 1", "B. 2", "C. 3"],
        "answer": "A"}])
    tvg_data = write_json(tmp_path / "tvgbench.json", [{
        "path": "clip.mp4", "question": "the square moves", "answer": "0.0-2.0",
        "duration": 4.0, "dataset_name": "synthetic", "qsemtype": "Human Pose"}])
    async with bench_service(local_backend, random_tiny=True) as service:
        v_items = load_vstar(vstar_data, videos)
        v_store = ResultStore(tmp_path / "v.jsonl")
        stats = await run_vstar(v_items, service, LenientJudge(), v_store,
                                VStarConfig(OPTS, progress=False))
        m_items = load_mcq("videomme", mme, videos)
        m_store = ResultStore(tmp_path / "m.jsonl")
        m_opts = RequestOptions(n=2, voting="confidence", temperature=1.0, max_tokens=24,
                                seed=0, num_frames=4)
        m_stats = await run_mcq(m_items, service, m_store, McqConfig(m_opts, 1, False))
        t_items = load_tvg(tvg_data, videos)
        t_store = ResultStore(tmp_path / "t.jsonl")
        t_stats = await run_tvg(t_items, service, t_store, TvgConfig(OPTS, 1, False))
    assert (stats.failed, m_stats.failed, t_stats.failed) == (0, 0, 0), (
        v_store.load(), m_store.load(), t_store.load())
    rec = v_store.load()["00000:clip"]
    assert rec["random_tiny_model"] is True        # the report labels such runs
    s = summarize_run(v_items, v_store)
    assert s.total == 1
    assert _in_unit(s.accuracy, s.m_am, *(c.m_tiou for c in s.chains),
                    *(c.m_viou for c in s.chains))
    assert s.m_lgm >= 0.0
    m = summarize_mcq(m_items, m_store.load())
    assert m.failed == 0 and _in_unit(*m.accuracy.values())
    assert m_store.load()["001-1"]["n_traces"] == 2
    overall, _ = tvg_summary(t_items, t_store.load())
    assert overall.count == 1 and _in_unit(overall.m_iou, *overall.recall.values())
