"""LocalHFBackend on the tiny checkpoint: one generate per sample call, explicit
sampling honoured, greedy scoring, real token usage, context limit, off the loop."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from service.grounding.prompt import build_prompt, build_scorer_prompt
from service.inference.backend import (
    GREEDY,
    Backend,
    BackendBadRequest,
    PromptTooLong,
    SamplingParams,
)
from service.inference.local_hf import LocalHFBackend
from service.inference.tiny import build_tiny_checkpoint
from tests.support.fixtures import make_frames

FRAMES = make_frames(4)
PROMPT = build_prompt("What is moving?", [0.0, 1.0, 2.0, 3.0])


def sp(**kw: object) -> SamplingParams:
    base: dict[str, object] = {"temperature": 1.0, "max_tokens": 12}
    return SamplingParams(**(base | kw))  # type: ignore[arg-type]


def test_is_a_backend(local_backend: LocalHFBackend) -> None:
    assert isinstance(local_backend, Backend)
    assert local_backend.model_id.startswith("o3-tiny-")
    assert len(local_backend.revision) == 16


async def test_n_samples_come_from_one_generate_call(local_backend: LocalHFBackend) -> None:
    before = local_backend.generate_calls
    result = await local_backend.sample(PROMPT, FRAMES, 3, sp(seed=1))
    assert len(result.completions) == 3
    assert local_backend.generate_calls == before + 1
    # usage counts real tokens: the prompt once, and every generated token
    assert result.usage.prompt_tokens == local_backend.count_prompt_tokens(PROMPT, FRAMES)
    assert result.usage.completion_tokens == sum(c.tokens for c in result.completions)
    assert all(1 <= c.tokens <= 12 for c in result.completions)
    assert all(c.finish_reason in ("stop", "length") for c in result.completions)


async def test_seeded_sampling_is_reproducible_and_seeds_matter(
    local_backend: LocalHFBackend,
) -> None:
    a = await local_backend.sample(PROMPT, FRAMES, 4, sp(seed=7))
    b = await local_backend.sample(PROMPT, FRAMES, 4, sp(seed=7))
    c = await local_backend.sample(PROMPT, FRAMES, 4, sp(seed=8))
    assert a.completions == b.completions
    assert a.completions != c.completions
    # at temperature 1 the 4 samples of one call differ from each other
    assert len({x.text for x in a.completions}) > 1


async def test_top_k_1_is_honoured(local_backend: LocalHFBackend) -> None:
    # top_k=1 leaves one candidate per step: all samples equal the greedy answer,
    # which they would not if the parameter were dropped (see the test above).
    # It also checks the shared prefill: n=3 decodes from ONE prefill's repeated KV
    # cache, greedy n=1 is a plain generate; both must give the same tokens.
    sampled = await local_backend.sample(PROMPT, FRAMES, 3, sp(top_k=1, seed=3))
    greedy = await local_backend.sample(PROMPT, FRAMES, 1, sp(temperature=0.0))
    assert {x.text for x in sampled.completions} == {greedy.completions[0].text}


async def test_max_tokens_is_honoured(local_backend: LocalHFBackend) -> None:
    result = await local_backend.sample(PROMPT, FRAMES, 3, sp(max_tokens=3, seed=2))
    for comp in result.completions:
        assert comp.tokens <= 3
        assert comp.finish_reason == ("length" if comp.tokens == 3 else "stop")


async def test_greedy_runs_once_and_repeats(local_backend: LocalHFBackend) -> None:
    before = local_backend.generate_calls
    result = await local_backend.sample(PROMPT, FRAMES, 3, sp(temperature=0.0))
    assert local_backend.generate_calls == before + 1
    assert len({c.text for c in result.completions}) == 1 and len(result.completions) == 3
    # usage counts the one row really generated, not three
    assert result.usage.completion_tokens == result.completions[0].tokens


async def test_score_is_a_short_greedy_completion(local_backend: LocalHFBackend) -> None:
    prompt = build_scorer_prompt("What is moving?", 2)
    first = await local_backend.score(prompt, FRAMES[:2])
    assert isinstance(first.text, str)
    assert first == await local_backend.score(prompt, FRAMES[:2])  # text and usage
    # real token counts: the prompt as the processor encodes it, the greedy row's tokens
    assert first.usage.prompt_tokens == local_backend.count_prompt_tokens(prompt, FRAMES[:2])
    assert 1 <= first.usage.completion_tokens <= GREEDY.max_tokens


async def test_health_reports_loaded_tiny_model(local_backend: LocalHFBackend) -> None:
    health = await local_backend.health()
    assert health.ok and local_backend.loaded
    assert "random tiny model" in health.detail and "cpu" in health.detail


async def test_work_runs_off_the_event_loop(local_backend: LocalHFBackend) -> None:
    ticks = 0

    async def ticker() -> None:
        nonlocal ticks
        while True:
            ticks += 1
            await asyncio.sleep(0.005)

    task = asyncio.create_task(ticker())
    await local_backend.sample(PROMPT, FRAMES, 2, sp(max_tokens=8, seed=0))
    task.cancel()
    assert ticks > 3


async def test_image_slots_must_be_filled(local_backend: LocalHFBackend) -> None:
    with pytest.raises(BackendBadRequest, match="4 images"):
        await local_backend.sample(PROMPT, FRAMES[:3], 1, sp())
    with pytest.raises(BackendBadRequest, match="n must be"):
        await local_backend.sample(PROMPT, FRAMES, 0, sp())


@pytest.fixture(scope="module")
def short_context(tmp_path_factory: pytest.TempPathFactory) -> LocalHFBackend:
    root = tmp_path_factory.mktemp("short") / "tiny-short"
    return LocalHFBackend(build_tiny_checkpoint(root, seed=0, max_positions=400))


async def test_prompt_too_long_says_what_to_drop(short_context: LocalHFBackend) -> None:
    frames = make_frames(8)  # 8 x 120 vision tokens > 400
    prompt = build_prompt("What is moving?", [float(i) for i in range(8)])
    with pytest.raises(PromptTooLong) as caught:
        await short_context.sample(prompt, frames, 2, sp())
    message = str(caught.value)
    assert "allows 400" in message and "of 8 frames" in message and "max_pixels" in message
    assert "the prompt needs" in message and "max_position_embeddings is 400" in message
    assert caught.value.status == 400


async def test_generation_is_clamped_to_the_context_left(short_context: LocalHFBackend) -> None:
    frames = make_frames(1)
    prompt = build_prompt("What?", [0.0])
    used = short_context.count_prompt_tokens(prompt, frames)
    result = await short_context.sample(prompt, frames, 1, sp(max_tokens=1000, seed=0))
    assert used + result.completions[0].tokens <= 400


def test_import_needs_no_torch() -> None:
    import subprocess
    import sys

    code = ("import sys; import service.inference.local_hf, service.inference.vllm_http;"
            "print('torch' in sys.modules, 'transformers' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, cwd=Path(__file__).resolve().parents[3])
    assert out.stdout.split() == ["False", "False"]


async def test_cancelling_the_caller_stops_the_generation(
    local_backend: LocalHFBackend,
) -> None:
    # 8 rows with room for 3,000 tokens each run for many seconds; cancelled early, the
    # worker thread must stop at its next token (the stopping criterion fires) instead
    # of running on while holding the model
    before = local_backend.cancelled_generations
    prompt = build_prompt("What?", [0.0])
    task = asyncio.create_task(local_backend.sample(
        prompt, make_frames(1), 8, sp(max_tokens=3000, seed=0)))
    await asyncio.sleep(0.5)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    for _ in range(600):
        if local_backend.cancelled_generations > before:
            break
        await asyncio.sleep(0.05)
    assert local_backend.cancelled_generations == before + 1
    # the model is free again: a normal request completes
    result = await local_backend.sample(prompt, make_frames(1), 1, sp(max_tokens=2))
    assert len(result.completions) == 1
