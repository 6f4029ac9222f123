"""`PerceptiveDouble`: a Backend test double whose answers come from the pixels.

It reads the prompt the way the model does: the `Frame i at Ts:` labels give each
image's time, the text after the frame block is the question (`questions`), the
system prompt says the task. It finds the shapes in every fed frame (`vision`) and
writes `n` traces in the model's exact grammar (`grounding.grammar` writers):
evidence boxes are in FED pixels and times come from the frame labels.

Hallucination: each trace independently hallucinates with probability
`hallucination` (seeded by the double's seed, the request's seed, the frame times,
the question and where the target is seen, so runs repeat). All hallucinating traces
of ONE call share one phantom: a frame and a box where the target is NOT (or, when
the target is nowhere, anywhere), and answer from it -- models tend to repeat one
wrong reading, and independent random errors would never outvote the truth. With `n`
traces, majority voting therefore follows the phantom when more than half
hallucinate; confidence voting follows it only when the verifier cannot tell (it
can: see `score`).

Scoring (the verifier's call, `score`, or a `sample` with the scorer's system prompt,
which is how it arrives through an OpenAI chat server): the crops are rated against
the question's target:
"2" when every crop shows it (covering >= 25% of the crop), "1" when some do, "0"
when none do.

Strictness (at least the real engine's): the prompt's image slots must match the
images sent (the vLLM stand-in and local backend refuse a mismatch too), and more
images than `max_images` (vLLM's --limit-mm-per-prompt) is a `BackendBadRequest`.
Usage: prompt tokens = words of the user text + one token per 28x28 pixels of each
image (Qwen2.5-VL's merged patch); completion tokens = words of each reply.
"""

from __future__ import annotations

import asyncio
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from service.grounding.grammar import (
    format_evidence,
    format_temporal_answer,
    format_temporal_mcq_answer,
    format_time,
    format_trace,
)
from service.grounding.prompt import SCORER_SYSTEM_PROMPT, system_prompt
from service.grounding.types import Box, Prompt, TaskType, TextPart
from service.inference.backend import (
    VLLM_MAX_IMAGES,
    BackendHealth,
    Completion,
    SampleResult,
    SamplingParams,
    ScoreResult,
    Usage,
    refuse_as_vllm,
)
from service.inference.perceptive.questions import Question, parse_question
from service.inference.perceptive.vision import PALETTE, covers, find_shapes

_LABEL = re.compile(r"Frame\s+\d+\s+at\s+(-?[0-9.]+)\s*s?:")
_DURATION = re.compile(r"^The video is in total \d+ seconds\.\n?", re.M)


@dataclass(frozen=True)
class Seen:
    """The target at one fed frame."""

    time: float
    box: Box
    name: str


@dataclass
class PerceptiveDouble:
    hallucination: float = 0.0
    seed: int = 0
    max_images: int = VLLM_MAX_IMAGES  # vLLM --limit-mm-per-prompt, as compose sets it
    delay: float = 0.0
    name: str = "perceptive-double"
    sample_calls: int = 0
    score_calls: int = 0
    images_seen: int = 0

    @property
    def model_id(self) -> str:
        return self.name

    @property
    def revision(self) -> str:
        return f"perceptive-h{self.hallucination:g}-s{self.seed}"

    async def sample(self, prompt: Prompt, images: Sequence[Image.Image], n: int,
                     sampling: SamplingParams) -> SampleResult:
        refuse_as_vllm(prompt, images, n, sampling, self.max_images)
        if self.delay:
            await asyncio.sleep(self.delay)
        self.sample_calls += 1
        self.images_seen += len(images)
        texts = await asyncio.to_thread(self._traces, prompt, images, n, sampling)
        comps = tuple(Completion(t, "stop", len(t.split())) for t in texts)
        return SampleResult(comps, Usage(prompt_tokens(prompt, images),
                                         sum(c.tokens for c in comps)))

    async def score(self, prompt: Prompt, images: Sequence[Image.Image], *,
                    sampling: SamplingParams | None = None) -> ScoreResult:
        """Rates the crops by whether they show the named object (`sampling` is accepted
        as the Backend protocol has it; the double's judgement does not depend on it)."""
        refuse_as_vllm(prompt, images, None, None, self.max_images)
        self.score_calls += 1
        self.images_seen += len(images)
        reply = await asyncio.to_thread(self._score, prompt, images)
        return ScoreResult(reply, Usage(prompt_tokens(prompt, images), 1))

    async def health(self) -> BackendHealth:
        return BackendHealth(True, self.name)

    async def close(self) -> None:
        return None

    # ---- reading the prompt -----------------------------------------------------------
    @staticmethod
    def _read(prompt: Prompt) -> tuple[list[float], str]:
        """Frame times (from the labels) and the question text."""
        texts = [p.text for p in prompt.user if isinstance(p, TextPart)]
        times = [float(m.group(1)) for t in texts for m in _LABEL.finditer(t)]
        tail = texts[-1] if texts else ""
        tail = _LABEL.sub("", tail).lstrip("\n")
        return times, _DURATION.sub("", tail).strip()

    # ---- writing traces -----------------------------------------------------------------
    def _traces(self, prompt: Prompt, images: Sequence[Image.Image], n: int,
                sampling: SamplingParams) -> list[str]:
        if prompt.system == SCORER_SYSTEM_PROMPT:  # over a chat API, scoring IS sampling
            return [self._score(prompt, images)] * n
        times, text = self._read(prompt)
        q = parse_question(text)
        seen = _sightings(q, times, images)
        # the draws depend on what the frames show too (as a model's samples would):
        # two videos with the same frame times but the target elsewhere draw apart
        key = f"{self.seed}|{sampling.seed}|{times}|{text}|{[(s.time, s.box) for s in seen]}"
        phantom = _phantom(q, times, images, seen, random.Random(key))
        writer = _Writer(q, prompt, images[0].size if images else (0, 0))
        out = []
        for i in range(n):
            lies = random.Random(f"{key}|{i}").random() < self.hallucination
            out.append(writer.trace([phantom] if lies and phantom else seen))
        return out

    def _score(self, prompt: Prompt, images: Sequence[Image.Image]) -> str:
        text = "".join(p.text for p in prompt.user if isinstance(p, TextPart))
        q = parse_question(text.rpartition("Question:")[2])
        if prompt.system != SCORER_SYSTEM_PROMPT or q.kind == "unknown" or not images:
            return "1"
        hits = sum(covers(im, q.colour, q.shape) for im in images)
        return "2" if hits == len(images) else "1" if hits else "0"


def prompt_tokens(prompt: Prompt, images: Sequence[Image.Image]) -> int:
    words = sum(len(p.text.split()) for p in prompt.user if isinstance(p, TextPart))
    return words + sum(math.ceil(im.width / 28) * math.ceil(im.height / 28) for im in images)


def _sightings(q: Question, times: Sequence[float], images: Sequence[Image.Image]
               ) -> list[Seen]:
    out = []
    for t, im in zip(times, images, strict=False):
        match = next((s for s in find_shapes(im) if s.matches(q.colour, q.shape)), None)
        if match is not None:
            out.append(Seen(t, match.box, match.name))
    return out


def _phantom(q: Question, times: Sequence[float], images: Sequence[Image.Image],
             seen: Sequence[Seen], rng: random.Random) -> Seen | None:
    """A sighting that is not there: a frame without the target (any frame when it
    is in all of them), a box away from it."""
    if not times or not images:
        return None
    w, h = images[0].size
    bw, bh = _size_of(seen, w, h)
    empty = [i for i, t in enumerate(times) if all(s.time != t for s in seen)]
    j = rng.choice(empty) if empty else rng.randrange(len(times))  # a frame it is not in
    real = [s.box for s in seen if s.time == times[j]]
    for _ in range(20):
        x, y = rng.randrange(0, max(1, w - bw)), rng.randrange(0, max(1, h - bh))
        box = (float(x), float(y), float(x + bw), float(y + bh))
        if not any(_overlap(box, r) for r in real):
            break
    colour = q.colour or rng.choice(list(PALETTE))
    return Seen(times[j], box, f"{colour} {q.shape or 'shape'}")


def _size_of(seen: Sequence[Seen], w: int, h: int) -> tuple[int, int]:
    if seen:
        b = seen[0].box
        return max(2, round(b[2] - b[0])), max(2, round(b[3] - b[1]))
    return max(2, w // 6), max(2, h // 6)


def _overlap(a: Box, b: Box) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


class _Writer:
    """Traces in the model's grammar for one prompt."""

    def __init__(self, q: Question, prompt: Prompt, fed: tuple[int, int]) -> None:
        self.q, self.task, self.fed = q, prompt.task, fed
        self.mcq_temporal = prompt.system == system_prompt(TaskType.TEMPORAL,
                                                           with_options=True)

    def trace(self, seen: Sequence[Seen]) -> str:
        cited = _pick(seen)
        think = f"I look through the frames for the {self.q.target}. "
        if self.task is TaskType.TEMPORAL:
            think += " ".join(f"It is visible at <t>{format_time(s.time)}</t>s." for s in cited)
        else:
            think += " ".join(f"I see {format_evidence(s.name, [s.box], s.time)}."
                              for s in cited)
        if not cited:
            think += f"The {self.q.target} does not appear in any of them."
        return format_trace(think.strip(), self._answer(seen))

    def _answer(self, seen: Sequence[Seen]) -> str:
        if self.task is TaskType.TEMPORAL:
            span = (seen[0].time, seen[-1].time) if seen else (0.0, 0.0)
            if self.mcq_temporal:
                return format_temporal_mcq_answer(*span, self._letter(seen))
            return format_temporal_answer(*span)
        if self.task is TaskType.MCQ or self.q.options:
            return self._letter(seen)
        return self._free(seen)

    def _free(self, seen: Sequence[Seen]) -> str:
        q, target = self.q, self.q.target
        if q.kind == "unknown":
            return "I cannot tell from these frames."
        if not seen:
            return f"The {target} does not appear in these frames."
        first = seen[0]
        if q.kind == "when":
            return f"The {target} appears at {format_time(first.time)}s."
        if q.kind == "where":
            return f"The {target} is at the {position(first.box, self.fed)} of the frame."
        return first.name.split()[0]

    def _letter(self, seen: Sequence[Seen]) -> str:
        letters = [letter for letter, _ in self.q.options] or ["A"]
        free = self._free(seen).lower()
        when = seen[0].time if seen else None
        best = _best_option(self.q, free, when)
        return best if best in letters else letters[0]


def _best_option(q: Question, free: str, when: float | None) -> str | None:
    if q.kind == "when" and when is not None:
        timed = [(abs(float(m.group()) - when), letter) for letter, text in q.options
                 if (m := re.search(r"-?\d+(?:\.\d+)?", text))]
        return min(timed)[1] if timed else None
    for letter, text in q.options:
        words = text.lower().strip(" .")
        if words and words in free:
            return letter
    return None


def _pick(seen: Sequence[Seen]) -> list[Seen]:
    """Up to three sightings to cite: the first, the middle and the last."""
    if len(seen) <= 3:
        return list(seen)
    return [seen[0], seen[len(seen) // 2], seen[-1]]


def position(box: Box, size: tuple[int, int]) -> str:
    """Where a box's centre lies in a 3x3 grid: "top left" ... "centre"."""
    cx, cy = (box[0] + box[2]) / 2 / max(1, size[0]), (box[1] + box[3]) / 2 / max(1, size[1])
    col = "left" if cx < 1 / 3 else "right" if cx > 2 / 3 else ""
    row = "top" if cy < 1 / 3 else "bottom" if cy > 2 / 3 else ""
    return " ".join(w for w in (row, col) if w) or "centre"


