"""The gateway bench's report: per-round ratios against the bare endpoint and, with a
baseline checkout, of the current gateway against the baseline (synthetic rounds)."""

from __future__ import annotations

import pytest

from bench.gateway_bench import Round, report


def rounds(rps: float, cpu_ms: float, p50_s: float) -> list[Round]:
    return [Round(rps, [p50_s] * 10, cpu_ms) for _ in range(3)]


def test_report_compares_each_gateway_to_bare_and_now_to_baseline(
    capsys: pytest.CaptureFixture[str],
) -> None:
    report("t", {"bare": rounds(1000, 0.2, 0.001), "before": rounds(500, 0.4, 0.002),
                 "now": rounds(800, 0.3, 0.0015)})
    out = capsys.readouterr().out
    # before vs bare: half the throughput, twice the CPU -> capacity 0.50x, +1 ms p50
    assert "before vs bare:" in out and "throughput ratio: median 0.50x" in out
    assert "p50 difference: median 1.00 ms" in out
    assert "server CPU per request ratio: median 2.00x" in out
    # now vs bare: 0.80x throughput, 1.50x CPU (capacity 0.67x)
    assert "median 0.80x" in out and "median 1.50x" in out and "0.67x" in out
    # now vs before: 1.60x throughput, 0.75x CPU (capacity 1.33x), -0.5 ms p50
    assert "now vs before:" in out and "median 1.60x" in out and "median 0.75x" in out
    assert "median -0.50 ms" in out and "1.33x" in out


def test_report_without_baseline_has_one_comparison(capsys: pytest.CaptureFixture[str]) -> None:
    report("t", {"bare": rounds(1000, 0.2, 0.001), "now": rounds(800, 0.3, 0.0015)})
    out = capsys.readouterr().out
    assert out.count(" vs ") == 1 and "target >= 0.5x" in out
