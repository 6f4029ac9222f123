"""Honest test doubles of the Backend protocol (named as such; never used in production).

`ScriptedBackend` replays given completions and verifier replies, so voting and
gateway tests have exact, known answers. It does what a backend does otherwise:
returns exactly `n` completions per `sample` call, records every call it got, and
reports token usage for `sample` and `score` alike: whitespace-split word counts
(prompt: the words of the user turn's text parts; completion: the words of each reply).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from PIL import Image

from service.grounding.types import Prompt
from service.inference.backend import (
    VLLM_MAX_IMAGES,
    BackendHealth,
    BackendUnavailable,
    Completion,
    SampleResult,
    SamplingParams,
    ScoreResult,
    Usage,
    refuse_as_vllm,
)

CompletionScript = Sequence[str] | Callable[[Prompt, int, SamplingParams], Sequence[str]]
ScoreScript = Sequence[str] | Callable[[Prompt, Sequence[Image.Image]], str]


@dataclass
class RecordedCall:
    kind: str  # "sample" or "score"
    prompt: Prompt
    image_count: int
    n: int
    sampling: SamplingParams | None


@dataclass
class ScriptedBackend:
    """Replays `completions` (cycled to fill `n`) and `scores` (cycled per call).

    `delay` seconds are awaited per call (to test deadlines and cancellation);
    `available=False` makes every call raise `BackendUnavailable`.
    """

    completions: CompletionScript = ("<think>scripted</think><answer>A</answer>",)
    scores: ScoreScript = ("2",)
    delay: float = 0.0
    available: bool = True
    max_images: int = VLLM_MAX_IMAGES  # vLLM --limit-mm-per-prompt, as compose sets it
    name: str = "scripted-double"
    calls: list[RecordedCall] = field(default_factory=list)
    _score_index: int = 0

    @property
    def model_id(self) -> str:
        return self.name

    @property
    def revision(self) -> str:
        return "scripted"

    async def sample(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        n: int,
        sampling: SamplingParams,
    ) -> SampleResult:
        await self._enter()
        self.calls.append(RecordedCall("sample", prompt, len(images), n, sampling))
        refuse_as_vllm(prompt, images, n, sampling, self.max_images)
        script = self.completions
        if callable(script):  # in a thread: a script may block (tests hold a request)
            texts = list(await asyncio.to_thread(script, prompt, n, sampling))
        else:
            texts = list(script)
        if not texts:
            texts = [""]
        picked = [texts[i % len(texts)] for i in range(n)]
        comps = tuple(Completion(t, "stop", len(t.split())) for t in picked)
        return SampleResult(comps, Usage(prompt_words(prompt), sum(c.tokens for c in comps)))

    async def score(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        *,
        sampling: SamplingParams | None = None,
    ) -> ScoreResult:
        await self._enter()
        self.calls.append(RecordedCall("score", prompt, len(images), 1, sampling))
        refuse_as_vllm(prompt, images, None, None, self.max_images)
        script = self.scores
        if callable(script):
            reply = script(prompt, images)
        else:
            reply = script[self._score_index % len(script)] if script else ""
            self._score_index += 1
        return ScoreResult(reply, Usage(prompt_words(prompt), len(reply.split())))

    async def health(self) -> BackendHealth:
        return BackendHealth(self.available, self.name, "" if self.available else "down")

    async def close(self) -> None:
        return None

    async def _enter(self) -> None:
        if not self.available:
            raise BackendUnavailable("scripted backend marked unavailable")
        if self.delay:
            await asyncio.sleep(self.delay)


def prompt_words(prompt: Prompt) -> int:
    """The double's 'prompt tokens': words in the user turn's text parts."""
    return sum(len(getattr(p, "text", "").split()) for p in prompt.user)
