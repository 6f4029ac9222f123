"""A generated video -> the sampler's frames -> the prompt builder -> a backend (local,
and vLLM HTTP via the stand-in) -> completions the parser reads; and the stand-in run
as a process, the way the gateway's e2e tests and the benchmark harness use it."""

from __future__ import annotations

import json
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from service.grounding.parser import parse_trace
from service.grounding.prompt import build_prompt
from service.inference.backend import Backend, SamplingParams
from service.inference.local_hf import LocalHFBackend
from service.inference.vllm_http import VLLMHTTPBackend
from service.video.policy import FramePolicy
from service.video.sampler import SampledVideo, sample_video
from service.video.synth import write_moving_square
from tests.support.vllm_standin import start_standin

REPO = Path(__file__).resolve().parents[3]


@pytest.fixture(scope="module")
def sampled(tmp_path_factory: pytest.TempPathFactory) -> SampledVideo:
    path = tmp_path_factory.mktemp("video") / "square.mp4"
    write_moving_square(path, width=320, height=240, duration=3.0, fps=10.0)
    return sample_video(path, FramePolicy(num_frames=6))


async def _run(backend: Backend, sampled: SampledVideo) -> None:
    frameset = sampled.frameset
    meta = frameset.meta
    prompt = build_prompt("Where is the square?", meta.times, duration=meta.duration)
    result = await backend.sample(prompt, frameset.frames, 2,
                                  SamplingParams(max_tokens=16, seed=0))
    assert len(result.completions) == 2
    assert result.usage.prompt_tokens > 6 * (meta.fed_size[0] // 28) * (meta.fed_size[1] // 28)
    for completion in result.completions:
        parsed = parse_trace(completion.text, task=prompt.task, fed_size=meta.fed_size,
                             duration=meta.duration)
        assert parsed.raw == completion.text  # random text: read, never raised


async def test_video_through_the_local_backend(local_backend: LocalHFBackend,
                                               sampled: SampledVideo) -> None:
    await _run(local_backend, sampled)


async def test_video_through_vllm_http_and_the_standin(local_backend: LocalHFBackend,
                                                       sampled: SampledVideo) -> None:
    with start_standin(local_backend) as base_url:
        remote = VLLMHTTPBackend(base_url, local_backend.model_id)
        await _run(remote, sampled)
        await remote.close()


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_standin_runs_as_a_process(tmp_path: Path) -> None:
    script = tmp_path / "script.json"
    script.write_text(json.dumps({"completions": ["<think>x</think><answer>C</answer>"],
                                  "model": "open-o3-video"}))
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.vllm_standin", "--script", str(script),
         "--port", str(port)], cwd=REPO, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        base_url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 60
        while True:
            try:
                if httpx.get(f"{base_url}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
                assert time.monotonic() < deadline, "stand-in process did not start"
                time.sleep(0.2)
        remote = VLLMHTTPBackend(base_url, "open-o3-video")
        assert (await remote.health()).ok
        result = await remote.sample(build_prompt("Q?", []), [], 3, SamplingParams())
        assert [c.text for c in result.completions] == ["<think>x</think><answer>C</answer>"] * 3
        await remote.close()
    finally:
        proc.terminate()
        proc.wait(timeout=10)
