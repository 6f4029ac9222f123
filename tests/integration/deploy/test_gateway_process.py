"""The compose gateway environment starts a working gateway (no Docker needed).

`python -m service` is started as a process with EXACTLY the environment
docker-compose.yml gives the gateway container (interpolated from .env.example with
filled secrets), except the addresses only Docker's network could provide: O3_VLLM_URL
points at the vLLM stand-in (tests/support, real HTTP, same served model name and API
key as compose's vLLM), O3_REDIS_URL at the test redis-server, O3_DATA_DIR at a temporary
directory, O3_PORT at a free port. Then the Dockerfile's own HEALTHCHECK command is run
against it, and /ready, auth and /metrics are checked.

The process is started (and its log kept) by tests/support/gateway.py, from a
working directory outside the repository as in the image (PYTHONPATH names the code).
About 3-5 s.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from service.inference.doubles import ScriptedBackend
from tests.support.gateway import running_gateway, start_gateway
from tests.support.vllm_standin import start_standin
from tests.unit.deploy.loaders import REPO, dockerfile_stages
from tests.unit.deploy.monitoring_checks import promql_metrics

STARTUP_S = 60.0


def _healthcheck_command() -> list[str]:
    """The gateway image's HEALTHCHECK command, exactly as the Dockerfile writes it."""
    stages = {s.name: s for s in dockerfile_stages((REPO / "Dockerfile").read_text())}
    check = stages["runtime"].args("HEALTHCHECK")[-1]
    command: list[str] = json.loads(check[check.index("CMD") + 3:].strip())
    return [sys.executable if command[0] == "python" else command[0], *command[1:]]


@pytest.fixture(scope="module")
def gateway(compose_doc: dict[str, Any], redis_url: str,
            tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    env = {k: str(v) for k, v in compose_doc["services"]["gateway"]["environment"].items()}
    vllm_args = [str(a) for a in compose_doc["services"]["vllm"]["command"]]
    model = vllm_args[vllm_args.index("--served-model-name") + 1]
    api_key = vllm_args[vllm_args.index("--api-key") + 1]
    workdir = tmp_path_factory.mktemp("gateway")
    with start_standin(ScriptedBackend(), model=model, api_key=api_key) as vllm_url:
        env.update(O3_VLLM_URL=vllm_url, O3_REDIS_URL=redis_url,
                   O3_DATA_DIR=str(workdir / "data"))
        with running_gateway(workdir, env, startup_s=STARTUP_S, cwd=workdir) as gw:
            yield gw.url, {**env, "O3_PORT": gw.url.rsplit(":", 1)[1]}


def test_dockerfile_healthcheck_command_passes(gateway: tuple[str, dict[str, str]]) -> None:
    _, env = gateway
    result = subprocess.run(_healthcheck_command(), env={**os.environ, **env},
                            capture_output=True, text=True, timeout=30, check=False)
    assert result.returncode == 0, result.stderr


def test_ready_with_the_deployed_vllm_settings(gateway: tuple[str, dict[str, str]]) -> None:
    # /ready checks the backend: the served model name and API key compose gives both sides
    base, _ = gateway
    response = httpx.get(f"{base}/ready", timeout=10)
    assert response.status_code == 200, response.text


def test_client_keys_from_compose_guard_v1(gateway: tuple[str, dict[str, str]]) -> None:
    base, env = gateway
    key = env["O3_API_KEYS"].split(",")[0]
    assert httpx.get(f"{base}/v1/models", timeout=10).status_code == 401
    models = httpx.get(f"{base}/v1/models", headers={"Authorization": f"Bearer {key}"},
                       timeout=10)
    assert models.status_code == 200, models.text


def test_live_metrics_include_every_gateway_metric_the_dashboard_uses(
    gateway: tuple[str, dict[str, str]]
) -> None:
    base, _ = gateway
    text = httpx.get(f"{base}/metrics", timeout=10).text
    live = {s.name for family in text_string_to_metric_families(text) for s in family.samples}
    live |= {family.name for family in text_string_to_metric_families(text)}
    dashboard = json.loads((REPO / "deploy/grafana/dashboards/o3.json").read_text())
    used = {n for p in dashboard["panels"] for t in p.get("targets", [])
            for n in promql_metrics(t["expr"]) if n.startswith("o3_")}
    families = {re.sub(r"_(total|bucket|sum|count)$", "", n) for n in used}
    assert used and families - live == set()


def test_gateway_stops_gracefully_on_sigterm(compose_doc: dict[str, Any], tmp_path: Path) -> None:
    # STOPSIGNAL SIGTERM: `docker stop` / pod termination must run the lifespan shutdown
    # within docker's default 10 s grace. uvicorn re-raises the signal after a graceful
    # shutdown, so the exit status is -SIGTERM (or 0); its log says shutdown completed.
    env = {k: str(v) for k, v in compose_doc["services"]["gateway"]["environment"].items()}
    env.update(O3_DATA_DIR=str(tmp_path / "data"), O3_REDIS_URL="",
               O3_VLLM_URL="http://127.0.0.1:9")  # nothing listens: /health still answers
    gw = start_gateway(tmp_path, env, startup_s=STARTUP_S, cwd=tmp_path)
    assert gw.stop(timeout=10) in (0, -signal.SIGTERM)  # a kill after 10 s would be -9
    assert "Application shutdown complete" in gw.log_tail()
