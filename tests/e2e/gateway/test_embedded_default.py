"""The README's default: `python -m service` with no checkpoint and no vLLM URL builds the
random tiny checkpoint on first start, labels it, and answers every route. Run with
two uvicorn workers, so /metrics must aggregate both (prometheus multiprocess mode)."""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.gateway.conftest import start_gateway, stop


@pytest.mark.timeout(300)
def test_tiny_default_two_workers(tmp_path: Path, video_file: Path) -> None:
    gw = start_gateway(tmp_path, {"O3_WORKERS": "2", "O3_DEFAULT_N": "2",
                                  "O3_DEFAULT_MAX_TOKENS": "16"}, timeout=240)
    try:
        models = httpx.get(f"{gw.url}/v1/models", timeout=30).json()
        assert models["data"][0]["random_tiny_model"] is True
        assert (tmp_path / "data" / "tiny-checkpoint" / "config.json").exists()
        with video_file.open("rb") as f:
            r = httpx.post(f"{gw.url}/v1/reason", files={"file": ("v.mp4", f)},
                           data={"question": "What moves?"}, timeout=120)
        assert r.status_code == 200, r.text
        body = r.json()
        # random weights: the answer is noise, but the response is complete and labelled
        assert body["random_tiny_model"] is True and len(body["frames"]["times"]) >= 4
        for _ in range(6):
            assert httpx.get(f"{gw.url}/health", timeout=10).status_code == 200
        text = httpx.get(f"{gw.url}/metrics", timeout=10).text
        count = re.search(r'o3_http_requests_total\{method="GET",route="/health",'
                          r'status="200"\} (\S+)', text)
        # 6 here + the start-up probes; whichever worker served each, all are counted
        assert count is not None and float(count.group(1)) >= 7
        assert (tmp_path / "data" / "prometheus-multiproc").is_dir()
    finally:
        stop(gw)
