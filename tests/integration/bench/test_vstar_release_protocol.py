"""`python -m clients.bench vstar` (release protocol) sends each chain step exactly as the
release's V-STAR script does: checked against the script's own output.

Five records are taken from tests/golden/prompts_vstar.jsonl (one per chain step, think
mode; each row holds the text the release's `get_answer_*` + `inference` produced for
that record). The harness runs all five steps of each record through the live gateway
and the capturing vLLM stand-in; the step the row covers must reach the model with the
row's text, byte for byte, apart from the frame lines (the test clip is not the
record's video, so its frames differ; the script's frame choice and labels are covered
row by row in tests/unit/video/test_policy_vstar_grid.py and
tests/unit/grounding/test_golden_prompts.py).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from clients.bench.datasets import load_vstar
from clients.bench.judges import LenientJudge
from clients.bench.runner import ResultStore
from clients.bench.target import RequestOptions
from clients.bench.vstar import VStarConfig, run_vstar
from service.inference.doubles import ScriptedBackend
from tests.integration.bench.conftest import BenchService
from tests.integration.bench.support import write_clip, write_json
from tests.support.vllm_standin import StandinState

pytestmark = pytest.mark.asyncio
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "prompts_vstar.jsonl"
FRAME_LINE = re.compile(
    r"Frame \d+ at [0-9.]+s: <\|vision_start\|><\|image_pad\|><\|vision_end\|>\n")


def golden_rows() -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in GOLDEN.open(encoding="utf-8")]
    picked: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r["think"] and r["step"] not in picked:
            picked[r["step"]] = r
    return list(picked.values())


def rendered(body: dict[str, Any]) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    from service.inference.tiny import QWEN25_VL_CHAT_TEMPLATE
    out, _ = render_jinja_template([body["messages"]], chat_template=QWEN25_VL_CHAT_TEMPLATE,
                                   add_generation_prompt=True)
    return str(out[0])


async def test_release_protocol_equals_the_script(tmp_path: Path,
                                                  bench_service: BenchService) -> None:
    rows = golden_rows()
    assert len(rows) == 5
    videos = tmp_path / "videos"
    videos.mkdir()
    records = []
    for r in rows:
        write_clip(videos / f"{r['data']['vid']}.mp4", (200, 40, 40))
        records.append(r["data"] | {"answer": "red", "domain": "test"})
    data = write_json(tmp_path / "V_STaR_test.json", records)
    state = StandinState()
    cfg = VStarConfig(RequestOptions(temperature=0.0, num_frames=16, fps=1.0,
                                     repetition_penalty=1.05, grid="vstar-release"),
                      progress=False)
    async with bench_service(ScriptedBackend(["<think>t</think><answer>x</answer>"]),
                             state) as service:
        stats = await run_vstar(load_vstar(data, videos), service, LenientJudge(),
                                ResultStore(tmp_path / "records.jsonl"), cfg)
    assert stats.failed == 0
    sent = [q for q in state.requests if q.get("repetition_penalty") == 1.05]
    assert len(sent) == 25  # 5 records x 5 steps, every one with the script's sampling
    ours = {FRAME_LINE.sub("", rendered(q)) for q in sent}
    for r in rows:
        assert FRAME_LINE.sub("", r["text"]) in ours, r["step"]
