"""The in-process test doubles refuse what vLLM 0.32 refuses (one shared rule set,
`backend.refuse_as_vllm`), so a test through them fails where production would: more
images than `--limit-mm-per-prompt`, image slots that do not match the images, and
`n > 1` with greedy sampling. (The HTTP stand-in is checked against vLLM's own code in
tests/conformance.)"""

from __future__ import annotations

import asyncio

import pytest

from service.grounding.prompt import build_prompt
from service.inference.backend import (
    VLLM_MAX_IMAGES,
    Backend,
    BackendBadRequest,
    SamplingParams,
)
from service.inference.doubles import ScriptedBackend
from service.inference.perceptive.double import PerceptiveDouble
from tests.support.fixtures import make_frames

DOUBLES = [ScriptedBackend, PerceptiveDouble]
HOT = SamplingParams(temperature=1.0, max_tokens=8)


@pytest.mark.parametrize("make", DOUBLES)
def test_more_images_than_vllm_allows(make: type[Backend]) -> None:
    count = VLLM_MAX_IMAGES + 1
    prompt = build_prompt("What moves?", [float(i) for i in range(count)])
    frames = make_frames(count, size=(28, 28))
    with pytest.raises(BackendBadRequest, match=f"At most {VLLM_MAX_IMAGES} image"):
        asyncio.run(make().sample(prompt, frames, 1, HOT))
    with pytest.raises(BackendBadRequest, match=f"At most {VLLM_MAX_IMAGES} image"):
        asyncio.run(make().score(prompt, frames))


@pytest.mark.parametrize("make", DOUBLES)
def test_image_slots_must_match_the_images(make: type[Backend]) -> None:
    prompt = build_prompt("What moves?", [0.0, 1.0, 2.0])
    with pytest.raises(BackendBadRequest, match="3 image slots for 2 images"):
        asyncio.run(make().sample(prompt, make_frames(2, size=(28, 28)), 1, HOT))


@pytest.mark.parametrize("make", DOUBLES)
def test_greedy_n_above_one(make: type[Backend]) -> None:
    prompt = build_prompt("What moves?", [0.0])
    with pytest.raises(BackendBadRequest, match="n must be 1 when using greedy sampling"):
        asyncio.run(make().sample(prompt, make_frames(1, size=(28, 28)), 2,
                                  SamplingParams(temperature=0.0)))


@pytest.mark.parametrize("make", DOUBLES)
def test_the_limit_is_the_doubles_setting(make: type[Backend]) -> None:
    prompt = build_prompt("What moves?", [0.0, 1.0, 2.0])
    with pytest.raises(BackendBadRequest, match="At most 2 image"):
        asyncio.run(make(max_images=2).sample(  # type: ignore[call-arg]
            prompt, make_frames(3, size=(28, 28)), 1, HOT))
