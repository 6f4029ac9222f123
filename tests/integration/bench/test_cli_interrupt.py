"""`python -m clients.bench` interrupted with Ctrl-C, and its defaults against a model
server as strict as vLLM (the stand-in refuses `n > 1` with temperature 0)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

from service.grounding.types import Prompt
from service.inference.backend import SamplingParams
from service.inference.doubles import ScriptedBackend
from tests.integration.bench.support import trace, vstar_record, write_clip, write_json
from tests.support.gateway import REPO as ROOT
from tests.support.gateway import running_gateway
from tests.support.vllm_standin import StandinState, start_standin

KEY = "bench-interrupt-key-0123456789"


def slow_model(prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
    time.sleep(0.4)  # in a thread (ScriptedBackend): slow enough to interrupt mid-run
    return [trace("Red")] * n


def _dataset(tmp_path: Path, count: int) -> tuple[Path, Path]:
    videos = tmp_path / "videos"
    videos.mkdir()
    records = []
    for i in range(count):
        clip = write_clip(videos / f"c{i}.mp4", (255, 0, 0))
        records.append(vstar_record(f"c{i}", "Sports", clip, (1, 2), "red"))
    return write_json(tmp_path / "V_STaR_test.json", records), videos


def test_ctrl_c_exits_130_with_a_resume_hint(tmp_path: Path, redis_url: str) -> None:
    # 20 records at >= 0.4 s each: the interrupt lands mid-run even on a loaded machine
    # (with 6, a starved test process once sent it after the run had finished)
    data, videos = _dataset(tmp_path, 20)
    out = tmp_path / "out"
    state = StandinState()
    with start_standin(ScriptedBackend(slow_model), state=state) as vllm_url:
        env = {"O3_VLLM_URL": vllm_url, "O3_VLLM_MODEL": "scripted-double",
               "O3_REDIS_URL": redis_url.replace("/0", "/6"), "O3_API_KEYS": KEY}
        with running_gateway(tmp_path, env) as gw:
            proc = subprocess.Popen(
                [sys.executable, "-m", "clients.bench", "vstar", "--data", str(data),
                 "--videos", str(videos), "--out", str(out), "--base-url", gw.url,
                 "--api-key", KEY, "--no-progress", "--concurrency", "1", "--n", "4"],
                cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            records = out / "records.jsonl"
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline and not (
                    records.exists() and records.read_text().strip()):
                time.sleep(0.1)
            proc.send_signal(signal.SIGINT)
            _, err = proc.communicate(timeout=60)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err, err[-2000:]
    assert "interrupted:" in err and "run the same command again to resume" in err
    saved = [json.loads(line) for line in records.read_text().splitlines() if line.strip()]
    assert 1 <= len(saved) < 20
    # the defaults (temperature 0) with --n 4 against a vLLM-strict server: one n=1 request
    sampling = [r for r in state.requests if r.get("temperature") == 0.0]
    assert sampling and all(r["n"] == 1 for r in state.requests)
