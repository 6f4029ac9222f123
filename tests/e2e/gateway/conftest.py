"""The gateway as a separate process (`python -m service`), for e2e tests.

`scripted_gateway` (module): a vLLM stand-in (scripted, in a thread of the test
process) + `python -m service` pointed at it with O3_VLLM_URL, a real Redis and an
API key; deterministic answers over real HTTP. `tiny_gateway` (module): the embedded
default, the local backend on the random tiny checkpoint.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from service.inference.doubles import ScriptedBackend
from service.video.synth import write_moving_square
from tests.conftest import free_port
from tests.support.vllm_standin import start_standin

TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")
API_KEY = "e2e-test-key-0123456789"
ROOT = Path(__file__).resolve().parents[3]


@dataclass
class Gateway:
    url: str
    key: str
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.key}"} if self.key else {}


def start_gateway(tmp: Path, env: dict[str, str], timeout: float = 120.0) -> Gateway:
    port = free_port()
    full = {k: v for k, v in os.environ.items() if not k.startswith("O3_")}
    full.update({"O3_PORT": str(port), "O3_DATA_DIR": str(tmp / "data"), "O3_ENV": "dev",
                 "O3_LOG_LEVEL": "warning", **env})
    log = tmp / "gateway.log"
    proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=ROOT, env=full,
                            stdout=log.open("wb"), stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"gateway exited: {log.read_text()[-3000:]}")
        try:
            if httpx.get(f"{url}/health", timeout=1).status_code == 200:
                return Gateway(url, env.get("O3_API_KEYS", ""), proc, log)
        except httpx.HTTPError:
            time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"gateway did not start: {log.read_text()[-3000:]}")


def stop(gw: Gateway) -> None:
    gw.proc.terminate()
    try:
        gw.proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        gw.proc.kill()


@pytest.fixture(scope="module")
def video_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("e2e-video") / "square.mp4"
    write_moving_square(path, duration=2.0)
    return path


@pytest.fixture(scope="module")
def scripted_gateway(tmp_path_factory: pytest.TempPathFactory, redis_url: str
                     ) -> Iterator[Gateway]:
    tmp = tmp_path_factory.mktemp("e2e-scripted")
    with start_standin(ScriptedBackend([TRACE])) as vllm_url:
        gw = start_gateway(tmp, {"O3_VLLM_URL": vllm_url, "O3_VLLM_MODEL": "scripted-double",
                                 "O3_REDIS_URL": redis_url.replace("/0", "/3"),
                                 "O3_API_KEYS": API_KEY, "O3_DEFAULT_N": "4"})
        try:
            yield gw
        finally:
            stop(gw)
