"""The soak benchmark runs end to end (a few seconds, a few clients): its real numbers
are in bench/README.md; here it must finish with 0 5xx and no unexpected answer."""

from __future__ import annotations

import json
from pathlib import Path

from bench import soak_bench


def test_soak_bench_short_run(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    code = soak_bench.main(["--duration", "4", "--clients", "6", "--videos", "2",
                            "--out", str(out)])
    result = json.loads(out.read_text())
    assert code == 0, result
    assert result["5xx"] == 0 and result["requests"] > 20 and not result["unexpected"]
    assert {"upload", "reason", "describe"} <= set(result["ops"])
