"""bench/gpu_check.py on a real GPU: the full-size random Qwen2.5-VL-7B through the local
backend (a few minutes on one H200). Skipped without CUDA by the `gpu` marker hook in
tests/conftest.py; run with `pytest -m gpu tests/gpu`."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.gpu


def test_gpu_check_full_size(capsys: pytest.CaptureFixture[str]) -> None:
    from bench.gpu_check import main

    assert main(["--max-tokens", "32"]) == 0
    out = capsys.readouterr().out
    assert "1 x sample(n=8)" in out and "GiB GPU" in out
