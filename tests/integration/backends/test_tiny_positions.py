"""The random tiny checkpoint takes the largest prompt the service accepts.

The largest request the reason API validates: 256 frames (FramesIn.num_frames), at the
default pixel budget (1280x720 -> 420x224, 120 vision tokens each), the longest
question (ReasonFields.question) and the largest max_tokens (SamplingIn.max_tokens).
Its prompt is tokenized by the real processor; prompt + max_tokens must fit the
checkpoint's context. (With 4,096 positions 32 frames already got prompt_too_long.)
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

from service.api.reason.protocol import FramesIn, ReasonFields, SamplingIn
from service.grounding.prompt import build_prompt
from service.inference.checkpoint import inspect_checkpoint
from service.inference.local_hf import LocalHFBackend
from service.inference.tiny import MAX_POSITIONS
from service.settings import Settings
from service.video.policy import fit_size
from tests.support.fixtures import make_frames


def _bound(model: Any, field: str, name: str) -> int:
    """The bound (`le=`, `max_length=`) the wire model puts on `field`."""
    return int(next(getattr(m, name) for m in model.model_fields[field].metadata
                    if hasattr(m, name)))


def _longest_question(chars: int) -> str:
    rng = random.Random(0)
    words = ["which", "object", "moves", "left", "after", "the", "red", "square", "12.5"]
    text = ""
    while len(text) < chars:
        text += rng.choice(words) + " "
    return text[:chars - 1] + "?"


def test_largest_allowed_prompt_fits(tiny_checkpoint: Path) -> None:
    assert inspect_checkpoint(tiny_checkpoint).max_positions == MAX_POSITIONS
    frames_max = _bound(FramesIn, "num_frames", "le")
    max_tokens = _bound(SamplingIn, "max_tokens", "le")
    question = _longest_question(_bound(ReasonFields, "question", "max_length"))
    settings = Settings(_env_file=None, env="dev")  # type: ignore[call-arg]
    fed = fit_size(1280, 720, settings.default_min_pixels, settings.default_max_pixels)
    assert fed == (420, 224)
    times = [i * 2.34 for i in range(frames_max)]  # labels with decimals, as served
    prompt = build_prompt(question, times, duration=600.0, add_duration_line=True)
    backend = LocalHFBackend(tiny_checkpoint, device="cpu", threads=1)
    needed = backend.count_prompt_tokens(prompt, make_frames(frames_max, fed))
    assert needed > frames_max * 120  # the vision tokens really are in there
    assert needed + max_tokens <= backend.max_model_len == MAX_POSITIONS, (
        needed, max_tokens, MAX_POSITIONS)
