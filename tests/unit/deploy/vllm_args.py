"""What a `vllm serve` argument list promises, shared by the compose and Kubernetes checks.

`vllm_arg_problems(args)` returns one message per broken promise (empty = all kept):
a model (the first positional argument, or `--model`), a served name,
`--limit-mm-per-prompt` as JSON with room for the frame policy, `--max-model-len` large
enough for the largest documented frame policy, `--generation-config vllm`. The
frame-policy arithmetic follows SPEC §1: Qwen2.5-VL spends one token per 28x28 pixels
of a fed frame.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

TOKEN_PIXELS = 28 * 28
LABEL_TOKENS = 16  # "Frame 12 at 123.4s: " + vision start/end tokens, with margin
PROMPT_MARGIN = 512  # system prompt + question + options
VERIFIER_CROPS = 10  # SPEC §4: more than 10 crops counts as no evidence
# (frames, max pixels per frame): the training/serving default and the paper's
# VideoMME/WorldSense/VideoMMMU policy (SPEC §1) -- both must fit one prompt.
FRAME_POLICIES = ((16, 128 * 28 * 28), (64, 262_144))
MAX_COMPLETION_TOKENS = 1024


def flag_value(args: Sequence[str], flag: str) -> str | None:
    """Value of `--flag value` or `--flag=value`; None when absent."""
    for i, arg in enumerate(args):
        if arg == flag and i + 1 < len(args):
            return str(args[i + 1])
        if arg.startswith(flag + "="):
            return arg.split("=", 1)[1]
    return None


def model_of(args: Sequence[str]) -> str | None:
    """`vllm serve MODEL ...` (the image's entrypoint) or the deprecated `--model MODEL`."""
    if args and not str(args[0]).startswith("-"):
        return str(args[0])
    return flag_value(args, "--model")


def prompt_tokens(frames: int, max_pixels: int) -> int:
    return frames * (max_pixels // TOKEN_PIXELS + LABEL_TOKENS) + PROMPT_MARGIN


def image_limit(args: Sequence[str]) -> int | None:
    """The image count of `--limit-mm-per-prompt` (None when absent or unreadable)."""
    return _image_limit(args)[0]


def _image_limit(args: Sequence[str]) -> tuple[int | None, str | None]:
    raw = flag_value(args, "--limit-mm-per-prompt")
    if raw is None:
        return None, "--limit-mm-per-prompt is missing"
    try:
        limits = json.loads(raw)
        image = limits["image"]
        count = image["count"] if isinstance(image, dict) else image
        return int(count), None
    except (ValueError, KeyError, TypeError):
        return None, f"--limit-mm-per-prompt is not JSON with an image count: {raw!r}"


def _length_problems(args: Sequence[str], images: int) -> list[str]:
    raw = flag_value(args, "--max-model-len")
    if raw is None or not raw.isdigit():
        return [f"--max-model-len must be an integer, got {raw!r}"]
    problems = []
    for frames, pixels in FRAME_POLICIES:
        need = prompt_tokens(min(frames, images), pixels) + MAX_COMPLETION_TOKENS
        if need > int(raw):
            problems.append(f"--max-model-len {raw} < {need} tokens for {frames} frames "
                            f"of {pixels} px + {MAX_COMPLETION_TOKENS} completion tokens")
    return problems


def vllm_arg_problems(args: Sequence[str], *, min_images: int) -> list[str]:
    """Broken promises of a vLLM argument list (see module docstring)."""
    problems = [f"{flag} is missing" for flag in ("--served-model-name",)
                if not flag_value(args, flag)]
    if not model_of(args):
        problems.append("the model is missing (first positional argument of `vllm serve`)")
    if flag_value(args, "--generation-config") != "vllm":
        problems.append("--generation-config vllm is missing (near-greedy model defaults)")
    images, error = _image_limit(args)
    if error or images is None:
        return [*problems, error or "no image limit"]
    if images < max(min_images, VERIFIER_CROPS):
        problems.append(f"--limit-mm-per-prompt allows {images} images; the frame policy "
                        f"needs {max(min_images, VERIFIER_CROPS)}")
    return problems + _length_problems(args, images)
