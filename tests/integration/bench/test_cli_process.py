"""`python -m clients.bench vstar` as a user runs it: the gateway as a process
(`python -m service`, real Redis, API key) whose model server is the scripted vLLM
stand-in, and an LLM judge behind a second OpenAI-compatible stand-in reached with
the official `openai` client. Checks the report, the exit status and resume."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from service.grounding.types import Prompt
from service.inference.backend import SamplingParams
from service.inference.doubles import ScriptedBackend
from tests.integration.bench.support import (
    box_at,
    prompt_text,
    script_by_marker,
    trace,
    vstar_record,
    write_clip,
    write_json,
)
from tests.support.gateway import REPO as ROOT
from tests.support.gateway import running_gateway
from tests.support.vllm_standin import StandinState, start_standin

KEY = "bench-cli-test-key-0123456789"


def judge_script(prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
    """The judge model: 3 for the right colour, a non-integer reply otherwise."""
    text = prompt_text(prompt)
    return ["3" if "Candidate answer: Red" in text else "three?"] * n


def _cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "clients.bench", *args], cwd=ROOT,
                          capture_output=True, text=True, timeout=180)


def test_vstar_command_against_gateway_process(tmp_path: Path, redis_url: str) -> None:
    videos = tmp_path / "videos"
    videos.mkdir()
    a = write_clip(videos / "cA.mp4", (255, 0, 0))
    b = write_clip(videos / "cB.mp4", (0, 0, 255))
    data = write_json(tmp_path / "V_STaR_test.json", [
        vstar_record("cA", "Sports", a, (1, 2), "red"),
        vstar_record("cB", "Life", b, (1, 2), "blue")])
    boxes = json.dumps({"1": box_at(a, 1), "2": box_at(a, 2)})
    model = ScriptedBackend(script_by_marker([
        (["colour is the square in cA"], trace("Red")),       # judge: 3 -> correct
        (["colour is the square in cB"], trace("Blue")),      # judge: unreadable -> wrong
        (["in cA cross"], trace("From <t>1.0</t>s to <t>2.0</t>s")),  # both chains: 1
        (["square in cA"], trace(boxes)),                      # both chains: 1
    ]))
    judge_state = StandinState()
    judge = ScriptedBackend(judge_script, name="judge-72b")
    out = tmp_path / "out"
    with start_standin(model) as vllm_url, start_standin(judge, state=judge_state) as judge_url:
        env = {"O3_VLLM_URL": vllm_url, "O3_VLLM_MODEL": model.name,
               "O3_REDIS_URL": redis_url.replace("/0", "/5"), "O3_API_KEYS": KEY}
        with running_gateway(tmp_path, env) as gw:
            args = ["vstar", "--data", str(data), "--videos", str(videos), "--out", str(out),
                    "--base-url", gw.url, "--api-key", KEY, "--no-progress",
                    "--judge-url", f"{judge_url}/v1", "--judge-model", "judge-72b"]
            first = _cli(*args)
            assert first.returncode == 0, first.stderr[-3000:]
            again = _cli(*args)               # resume: nothing left to ask
    assert again.returncode == 0, again.stderr[-3000:]
    assert len(judge_state.requests) == 2       # the second run judged nothing again
    assert judge_state.requests[0]["temperature"] == 0.0   # greedy judge
    assert len((out / "records.jsonl").read_text().splitlines()) == 2
    summary = json.loads((out / "summary.json").read_text())
    assert summary["accuracy"] == 0.5            # cA judged 3; cB's reply is not an integer
    assert [c["m_tiou"] for c in summary["chains"]] == [0.5, 0.5]   # cB: no span -> 0
    assert [c["m_viou"] for c in summary["chains"]] == [0.5, 0.5]
    report = (out / "report.md").read_text()
    assert "llm:judge-72b" in report and "offline" not in report
    assert "| this run | 50.0 | 50.0 | 50.0 | 50.0 | 50.0 |" in report
    assert (out / "vstar_plots.png").stat().st_size > 0
    assert "](vstar_plots.png)" in report   # linked from the report, next to it
