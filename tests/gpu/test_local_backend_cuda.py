"""LocalHFBackend on a CUDA device in bfloat16: the path a GPU host without vLLM serves.

On the tiny checkpoint (built here, no download): the model really sits on the GPU in
bfloat16, `n=4` traces come from ONE `generate` call (the prompt prefilled once),
seeded sampling is reproducible on the device, greedy scoring works, and /ready's
detail names the device. Skipped, with the reason, when torch sees no CUDA device
(the `gpu` marker hook in tests/conftest.py); run on a GPU machine with
`pytest -m gpu tests/gpu`.
"""

from __future__ import annotations

import pytest

from service.grounding.prompt import build_prompt, build_scorer_prompt
from service.inference.backend import SamplingParams
from service.inference.local_hf import LocalHFBackend, load_model
from tests.support.fixtures import build_tiny_once, make_frames

pytestmark = pytest.mark.gpu

FRAMES = make_frames(4)
PROMPT = build_prompt("What is moving?", [0.0, 1.0, 2.0, 3.0])
SAMPLING = SamplingParams(temperature=1.0, top_p=1.0, top_k=-1, max_tokens=16,
                          repetition_penalty=1.0, seed=3)


@pytest.fixture(scope="module")
def cuda_backend() -> LocalHFBackend:
    return LocalHFBackend(build_tiny_once(0), device="cuda", dtype="bfloat16")


async def test_model_is_on_the_gpu_in_bfloat16(cuda_backend: LocalHFBackend) -> None:
    health = await cuda_backend.health()
    assert health.ok, health.detail
    assert "cuda" in health.detail and "bfloat16" in health.detail
    loaded = load_model(cuda_backend.info, "cuda", "bfloat16")
    params = list(loaded.model.parameters())
    assert {p.device.type for p in params} == {"cuda"}
    assert {str(p.dtype) for p in params} == {"torch.bfloat16"}


async def test_n4_in_one_generate_call(cuda_backend: LocalHFBackend) -> None:
    before = cuda_backend.generate_calls
    result = await cuda_backend.sample(PROMPT, FRAMES, 4, SAMPLING)
    assert cuda_backend.generate_calls == before + 1  # 4 rows, one call
    assert len(result.completions) == 4
    assert all(1 <= c.tokens <= 16 for c in result.completions)
    assert all(c.finish_reason in ("stop", "length") for c in result.completions)
    assert result.usage.prompt_tokens == cuda_backend.count_prompt_tokens(PROMPT, FRAMES)
    assert result.usage.completion_tokens == sum(c.tokens for c in result.completions)


async def test_seeded_sampling_is_reproducible_on_the_device(
    cuda_backend: LocalHFBackend,
) -> None:
    a = await cuda_backend.sample(PROMPT, FRAMES, 4, SAMPLING)
    b = await cuda_backend.sample(PROMPT, FRAMES, 4, SAMPLING)
    assert [c.text for c in a.completions] == [c.text for c in b.completions]


async def test_greedy_scoring_on_the_device(cuda_backend: LocalHFBackend) -> None:
    prompt = build_scorer_prompt("What is moving?", 2)
    first = await cuda_backend.score(prompt, FRAMES[:2])
    assert first == await cuda_backend.score(prompt, FRAMES[:2])  # greedy: deterministic
