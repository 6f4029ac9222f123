"""The gateway as a separate process (`python -m service`), for e2e tests.

`scripted_gateway` (module): a vLLM stand-in (scripted, in a thread of the test
process) + `python -m service` pointed at it with O3_VLLM_URL, a real Redis and an
API key; deterministic answers over real HTTP. `tiny_gateway` (module): the embedded
default, the local backend on the random tiny checkpoint.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from service.inference.doubles import ScriptedBackend
from service.video.synth import write_moving_square
from tests.support.gateway import REPO, GatewayProcess
from tests.support.gateway import start_gateway as start_process
from tests.support.vllm_standin import start_standin

TRACE = ("<think>The square <obj>square</obj><box>[10,10,40,40]</box>at<t>0.5</t>s "
         "moves.</think><answer>A</answer>")
API_KEY = "e2e-test-key-0123456789"
ROOT = REPO


Gateway = GatewayProcess  # the name the test modules use


def start_gateway(tmp: Path, env: dict[str, str], timeout: float = 120.0) -> Gateway:
    """`python -m service` under `tmp` (data in tmp/data, log in tmp/gateway.log); see
    tests/support/gateway.py."""
    return start_process(tmp, env, startup_s=timeout)


def stop(gw: Gateway) -> None:
    gw.stop()


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
