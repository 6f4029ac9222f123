"""The Backend protocol: the one seam between the pipeline and a model engine.

Implementations: `vllm_http.VLLMHTTPBackend` (a `vllm serve` server over its OpenAI
chat API) and `local_hf.LocalHFBackend` (transformers in-process). Tests use the CPU
stand-in server through the real vLLM backend, or the honest double in
`service.inference.doubles`.

Contract:
- `sample` returns exactly `n` completions for ONE prompt, produced in one engine call
  so the prompt (and its images) is prefilled once. The pipeline never asks a backend
  for `n > 1` greedy samples (`SamplingParams.greedy`): it asks for one and repeats
  it. Sampling parameters are always explicit: a backend never falls back to the
  checkpoint's generation_config.
- `score` returns one completion for a verification prompt, greedy (`GREEDY`) unless
  the caller passes `sampling` (the release's verifier scores with its generation
  settings), with the tokens that call used (`ScoreResult`), so a verdict's usage can
  count the verifier's N calls as well as the sampling call.
- Errors are `BackendError` subclasses carrying the HTTP status the gateway should use.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from PIL import Image

from service.grounding.types import ImagePart, Prompt


@dataclass(frozen=True)
class SamplingParams:
    """Explicit sampling parameters, sent with every request (SPEC section 4.1, 7)."""

    temperature: float = 1.0
    top_p: float = 1.0
    top_k: int = -1
    max_tokens: int = 1024
    repetition_penalty: float = 1.0
    seed: int | None = None

    @property
    def greedy(self) -> bool:
        """Temperature 0: every sample is the same argmax trace, so N samples are ONE
        call with n=1, reported N times (vLLM refuses `n > 1` with greedy sampling)."""
        return self.temperature <= 0.0


MIN_TEMPERATURE = 0.01
"""vLLM's `sampling_params._MAX_TEMP`: it raises a temperature in (0, 0.01) to 0.01
(smaller ones overflow the logits), so only exactly 0 is greedy. The gateway does the
same for every backend (`clamp_temperature`)."""


def clamp_temperature(temperature: float) -> float:
    """0 stays 0 (greedy); (0, 0.01) becomes 0.01, as vLLM does."""
    return 0.0 if temperature <= 0.0 else max(temperature, MIN_TEMPERATURE)

GREEDY = SamplingParams(temperature=0.0, top_p=1.0, top_k=-1, max_tokens=8)
"""What the verifier uses: one digit, deterministic."""


@dataclass(frozen=True)
class Completion:
    text: str
    finish_reason: str = "stop"
    tokens: int = 0


@dataclass(frozen=True)
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __add__(self, other: Usage) -> Usage:
        return Usage(
            self.prompt_tokens + other.prompt_tokens,
            self.completion_tokens + other.completion_tokens,
        )


@dataclass(frozen=True)
class SampleResult:
    completions: tuple[Completion, ...]
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class ScoreResult:
    """A verification call's reply and what it cost (the same units as `sample`'s)."""

    text: str
    usage: Usage = field(default_factory=Usage)


@dataclass(frozen=True)
class BackendHealth:
    ok: bool
    model_id: str
    detail: str = ""
    loading: bool = False  # not ok because a model load is in progress (ask again later)


class BackendError(Exception):
    """Base of backend failures; `status` is the HTTP status the gateway returns."""

    status: int = 502
    code: str = "backend_error"


class BackendUnavailable(BackendError):
    """The engine cannot be reached or is not ready (-> 503)."""

    status = 503
    code = "backend_unavailable"


class BackendTimeout(BackendError):
    """The engine did not answer within the deadline (-> 504)."""

    status = 504
    code = "backend_timeout"


class PromptTooLong(BackendError):
    """The prompt exceeds the model's context (-> 400 with advice on what to drop)."""

    status = 400
    code = "prompt_too_long"


class BackendBadRequest(BackendError):
    """The engine refused the request as invalid (-> 400)."""

    status = 400
    code = "backend_bad_request"


VLLM_SAMPLING_EPS = 1e-5  # vLLM: a temperature below this is greedy sampling


VLLM_MAX_IMAGES = 64  # compose's --limit-mm-per-prompt (O3_MAX_IMAGES)


def refuse_greedy_n(n: int, sampling: SamplingParams) -> None:
    """vLLM's rule: `n > 1` with greedy sampling is refused, in vLLM's words."""
    if n > 1 and sampling.temperature < VLLM_SAMPLING_EPS:
        raise BackendBadRequest(f"n must be 1 when using greedy sampling, got {n}.")


def too_many_images(max_images: int) -> str:
    """vLLM 0.32's refusal of more images than `--limit-mm-per-prompt`, in its words
    (`multimodal/processing/context.py`, `validate_num_items`)."""
    return (f"At most {max_images} image(s) may be provided in one prompt. Set "
            "`--limit-mm-per-prompt` to increase this limit.")


def refuse_as_vllm(prompt: Prompt, images: Sequence[Image.Image], n: int | None,
                   sampling: SamplingParams | None,
                   max_images: int = VLLM_MAX_IMAGES) -> None:
    """What vLLM refuses, for the in-process test doubles (so a test fails where the
    real engine would): a prompt whose image slots do not match the images, more
    images than `--limit-mm-per-prompt`, and `n > 1` with greedy sampling (`n` None:
    a scoring call, n = 1)."""
    slots = [p.index for p in prompt.user if isinstance(p, ImagePart)]
    if slots != list(range(len(images))):
        raise BackendBadRequest(f"prompt has {len(slots)} image slots for "
                                f"{len(images)} images")
    if len(images) > max_images:
        raise BackendBadRequest(too_many_images(max_images))
    if n is not None and sampling is not None:
        refuse_greedy_n(n, sampling)


@runtime_checkable
class Backend(Protocol):
    """A model engine that can sample grounded traces and score verification prompts."""

    @property
    def model_id(self) -> str: ...

    @property
    def revision(self) -> str: ...

    async def sample(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        n: int,
        sampling: SamplingParams,
    ) -> SampleResult: ...

    async def score(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        *,
        sampling: SamplingParams | None = None,
    ) -> ScoreResult: ...

    async def health(self) -> BackendHealth: ...

    async def close(self) -> None: ...
