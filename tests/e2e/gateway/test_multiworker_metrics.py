"""`O3_WORKERS=2`: both worker processes serve requests and `/metrics` adds them up.

Every request carries its own `X-Request-ID`; the access log line of each names the
process that served it (`pid=`), so the test knows which worker answered what. The
counter read from `/metrics` (served by whichever worker) must equal exactly the number
of requests sent to that route, with requests from BOTH workers among them: a
per-process registry would report only its own share.
"""

from __future__ import annotations

import re
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import psutil
import pytest

from service.inference.doubles import ScriptedBackend
from tests.e2e.gateway.conftest import TRACE, Gateway, start_gateway, stop
from tests.support.vllm_standin import start_standin

BATCH = 24
MAX_BATCHES = 10
ACCESS = re.compile(r"service\.access pid=(\d+) \[(mw-\d+)\] GET /v1/models 200")
COUNTER = re.compile(r'o3_http_requests_total\{method="GET",route="/v1/models",'
                     r'status="200"\} (\S+)')


def ask(gw: Gateway, i: int) -> int:
    # a fresh connection per request, so the kernel may hand it to either worker
    r = httpx.get(f"{gw.url}/v1/models", headers={"X-Request-ID": f"mw-{i}"}, timeout=30)
    return r.status_code


def served_by(log: Path) -> dict[str, int]:
    """request id -> pid of the worker whose access log line names it."""
    return {rid: int(pid) for pid, rid in ACCESS.findall(log.read_text())}


@pytest.mark.timeout(180)
def test_two_workers_both_serve_and_metrics_aggregate(tmp_path: Path) -> None:
    with start_standin(ScriptedBackend([TRACE])) as vllm_url:
        gw = start_gateway(tmp_path, {"O3_WORKERS": "2", "O3_LOG_LEVEL": "info",
                                      "O3_VLLM_URL": vllm_url,
                                      "O3_VLLM_MODEL": "scripted-double"})
        try:
            workers = {p.pid for p in psutil.Process(gw.proc.pid).children(recursive=True)}
            sent = 0
            with ThreadPoolExecutor(8) as pool:
                for _ in range(MAX_BATCHES):  # until both workers have answered something
                    codes = list(pool.map(lambda i: ask(gw, i), range(sent, sent + BATCH)))
                    assert set(codes) == {200}
                    sent += BATCH
                    if len(set(served_by(gw.log).values())) >= 2:
                        break
            text = httpx.get(f"{gw.url}/metrics", timeout=10).text
        finally:
            stop(gw)
    pids = served_by(gw.log)
    assert len(pids) == sent  # one access line per request, each with its pid
    assert len(set(pids.values())) == 2 and set(pids.values()) <= workers
    count = COUNTER.search(text)
    assert count is not None and float(count.group(1)) == sent
    assert (tmp_path / "data" / "prometheus-multiproc").is_dir()
