"""bench/gpu_check.py without a GPU: the CPU smoke run of its whole path (tiny config),
and the full-size config it writes inline is Qwen2.5-VL-7B's (parameter count on the
meta device: nothing allocated)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench.gpu_check import full_size_config, main
from service.inference.tiny import build_tiny_checkpoint


def test_tiny_smoke_run_prints_the_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--tiny", "--device", "cpu", "--max-tokens", "3", "--frames", "2",
                 "--n", "2"]) == 0
    out = capsys.readouterr().out
    assert "1 x sample(n=2)" in out and "2 x sample(n=1)" in out
    shared = next(line for line in out.splitlines() if line.startswith("1 x sample"))
    assert shared.split()[3] == "6"  # 2 rows x 3 tokens: every row ran to max_tokens
    assert "peak memory" in out and "faster than 2 single calls" in out


def test_full_size_config_is_qwen25_vl_7b(tmp_path: Path) -> None:
    import torch
    import transformers

    config = full_size_config(build_tiny_checkpoint(tmp_path / "tok"))
    with torch.device("meta"):
        model = transformers.Qwen2_5_VLForConditionalGeneration(config)
    assert sum(p.numel() for p in model.parameters()) == 8_292_166_656  # the 7B's count
