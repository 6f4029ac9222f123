"""SFT and RL in 2 processes (torchrun, gloo on CPU): one process group, one metrics
stream, one set of files (issue 12: every rank used to append to metrics.jsonl and write
the processor and config, and a CPU launch ran N separate trainings).

Small on purpose: 8 synthetic records, the tiny model, 2 steps per stage.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("trl", reason="the train extra (trl) is not installed")

from service.inference.tiny import build_tiny_checkpoint
from training.metrics import read_metrics
from training.synth_records import generate

REPO = Path(__file__).resolve().parents[3]


def _port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _torchrun(args: list[str], log: Path) -> str:
    torchrun = Path(sys.executable).with_name("torchrun")
    cmd = [str(torchrun if torchrun.exists() else shutil.which("torchrun")),
           "--nproc_per_node", "2", "--master_port", str(_port()), "-m", "training", *args]
    env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1"}
    done = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=500)
    log.write_text(done.stdout + done.stderr)
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("twoproc")
    generate(root / "data", 8, seed=3)
    build_tiny_checkpoint(root / "tiny", seed=0)
    return root


def _one_stream(path: Path) -> list[dict[str, object]]:
    rows = read_metrics(path)
    steps = [r["step"] for r in rows if "loss" in r and "train_runtime" not in r]
    assert steps == [1, 2], steps  # one row per logged step: one writer
    assert sum("train_runtime" in r for r in rows) == 1
    return rows


def _one_set_of_files(out: Path, stage: str) -> None:
    config = json.loads((out / "training_config.json").read_text())  # whole, parseable
    assert config["stage"] == stage
    for name in ("processor_config.json", "tokenizer_config.json", "config.json"):
        json.loads((out / name).read_text())
    assert not list(out.glob("*.tmp")) and not list(out.glob("*rank*"))


def test_sft_then_rl_in_two_processes(work: Path) -> None:
    sft, rl = work / "sft", work / "rl"
    printed = _torchrun(["sft", "--config", "tiny-cpu", "--set", f"model={work / 'tiny'}",
                         "--set", f"data.sft_json={work / 'data' / 'STGR-SFT.json'}",
                         "--set", "sft.max_steps=2", "--set", "sft.global_batch_size=4",
                         "--set", "sft.per_device_batch_size=2", "--set", "sft.logging_steps=1",
                         "--out", str(sft)], work / "sft.log")
    assert printed.count('"stage": "sft"') == 1  # rank 0 prints the result line
    rows = _one_stream(sft / "metrics.jsonl")
    # one process GROUP: a step is 2 ranks x 2 samples = 4 of the 8 records (epoch 0.5);
    # two separate single-process runs would each log 0.25
    assert rows[0]["epoch"] == pytest.approx(0.5)
    _one_set_of_files(sft, "sft")

    _torchrun(["rl", "--config", "tiny-cpu", "--model", str(sft),
               "--set", f"data.rl_json={work / 'data' / 'STGR-RL.json'}",
               "--set", "rl.max_steps=2", "--set", "rl.global_batch_size=4",
               "--set", "rl.per_device_batch_size=2", "--set", "rl.num_generations=2",
               "--set", "rl.max_completion_length=12", "--set", "rl.logging_steps=1",
               "--out", str(rl)], work / "rl.log")
    rows = _one_stream(rl / "metrics.jsonl")
    # 4 completions per step = 2 prompts of the 8 (epoch 0.25); alone, each rank: 0.125
    assert rows[0]["epoch"] == pytest.approx(0.25)
    assert "rewards/accuracy/mean" in rows[0]
    _one_set_of_files(rl, "rl")
