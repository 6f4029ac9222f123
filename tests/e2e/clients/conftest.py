"""The real gateway as a process (`python -m service`) for the client e2e tests.

- `square` (session): a 3 s 320x240 white-square video and its truth.
- `scripted_gateway` (module): the gateway process with the vLLM HTTP backend pointed
  at the CPU stand-in (tests/support/vllm_standin.py) replaying a trace that cites the
  square's TRUE box at two times (in fed-frame pixels, as the model would) and rating
  every verifier crop 2 (the vLLM backend scores through the same chat route), real Redis,
  an API key, and admission limits of 1 running + 0 queued, so a second concurrent
  request gets 429 + Retry-After. A question containing "SLOW" holds the backend for
  SLOW_S seconds.
- `tiny_gateway` (module): the gateway process with the local transformers backend on
  the random tiny checkpoint (a real model producing noise).
"""

from __future__ import annotations

import time
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from service.grounding.types import Prompt, TextPart
from service.inference.backend import SamplingParams
from service.inference.doubles import ScriptedBackend
from service.video.policy import fit_size
from service.video.synth import MovingSquareTruth
from tests.e2e.clients.support import EVIDENCE_TIMES, cited_trace
from tests.integration.clients.videos import square_video
from tests.support.fixtures import build_tiny_once
from tests.support.gateway import REPO, GatewayProcess, running_gateway
from tests.support.vllm_standin import start_standin

API_KEY = "e2e-clients-key-7f3a"
SLOW_S = 2.5


Gateway = GatewayProcess  # the name the test modules use


@pytest.fixture(scope="session")
def square(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, MovingSquareTruth]:
    path = tmp_path_factory.mktemp("videos") / "square.mp4"
    return path, square_video(path)


def _script(fed_size: tuple[int, int], truth: MovingSquareTruth):  # type: ignore[no-untyped-def]
    trace = cited_trace(truth, fed_size)

    def completions(prompt: Prompt, n: int, sampling: SamplingParams) -> Sequence[str]:
        if "single digit" in prompt.system:  # the verifier's scorer prompt (SPEC 4.3)
            return ["2"]
        question = " ".join(p.text for p in prompt.user if isinstance(p, TextPart))
        if "SLOW" in question:
            time.sleep(SLOW_S)  # ScriptedBackend runs scripts in a thread: the loop stays free
        return [trace]

    return completions


@pytest.fixture(scope="module")
def scripted_gateway(
    tmp_path_factory: pytest.TempPathFactory, redis_url: str,
    square: tuple[Path, MovingSquareTruth],
) -> Iterator[Gateway]:
    _, truth = square
    fed = fit_size(truth.scene.width, truth.scene.height, 4 * 28 * 28, 128 * 28 * 28)
    backend = ScriptedBackend(_script(fed, truth), scores=("2",), name="scripted-double")
    data = tmp_path_factory.mktemp("gw-scripted")
    with start_standin(backend) as standin_url:
        env = {"O3_BACKEND": "vllm", "O3_VLLM_URL": standin_url,
               "O3_VLLM_MODEL": "scripted-double", "O3_REDIS_URL": redis_url,
               "O3_API_KEYS": API_KEY, "O3_MAX_CONCURRENCY": "1", "O3_MAX_QUEUE": "0",
               "O3_DEFAULT_N": "3", "O3_CACHE_TTL_S": "0"}
        with running_gateway(data, env, wait_for="/ready", startup_s=180.0) as gw:
            yield gw


@pytest.fixture(scope="module")
def tiny_gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Gateway]:
    data = tmp_path_factory.mktemp("gw-tiny")
    env = {"O3_BACKEND": "local", "O3_CHECKPOINT": str(build_tiny_once(0)),
           "O3_DEFAULT_N": "2", "O3_DEFAULT_NUM_FRAMES": "4", "O3_DEFAULT_MAX_TOKENS": "24",
           "O3_DEFAULT_MAX_PIXELS": str(8 * 28 * 28), "O3_DEFAULT_MIN_PIXELS": str(4 * 28 * 28)}
    # /ready, not /health: the local backend loads its model on the first readiness
    # check, which may take longer than one check's own deadline
    with running_gateway(data, env, wait_for="/ready", startup_s=180.0) as gw:
        yield gw


# re-exported so test modules can name the times the script cites
__all__ = ["API_KEY", "EVIDENCE_TIMES", "REPO", "SLOW_S", "Gateway"]
