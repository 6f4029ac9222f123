"""Verifier: crops, scorer calls, weight mapping (both modes) and concurrency.

Frames are real PIL images with known colours, so a crop's pixels show which frame
and which region it was cut from. The backend is the project's ScriptedBackend
double (or a thin wrapper that watches it).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from PIL import Image

from service.grounding.prompt import SCORER_SYSTEM_PROMPT
from service.grounding.types import (
    Box,
    EvidenceItem,
    FrameSetMeta,
    ParsedTrace,
    Prompt,
    TaskType,
    TextPart,
)
from service.grounding.voting import VotingMode, vote
from service.inference.backend import BackendTimeout, SamplingParams, ScoreResult, Usage
from service.inference.doubles import ScriptedBackend, prompt_words
from service.inference.types import WeightMode
from service.inference.verifier import crop_evidence, parse_score, verify
from service.video.frameset import FrameSet

MCQ = TaskType.MCQ
FED = (112, 84)
RED, BLUE, GREEN = (255, 0, 0), (0, 0, 255), (0, 255, 0)
LEFT: Box = (0.0, 0.0, 56.0, 84.0)     # red half of frame 0
RIGHT: Box = (56.0, 0.0, 112.0, 84.0)  # blue half of frame 0
SMALL: Box = (10.0, 10.0, 20.0, 30.0)


def frames() -> FrameSet:
    f0 = Image.new("RGB", FED, BLUE)
    f0.paste(Image.new("RGB", (56, 84), RED), (0, 0))
    f1 = Image.new("RGB", FED, GREEN)
    meta = FrameSetMeta(times=(0.0, 2.0), fed_size=FED, orig_size=(448, 336), duration=3.0)
    return FrameSet([f0, f1], meta)


def ev(name: str, t: float, *boxes: Box) -> EvidenceItem:
    return EvidenceItem(name=name, time=t, boxes=boxes)


def trace(*items: EvidenceItem, answer: str | None = "A", think: str | None = "t") -> ParsedTrace:
    return ParsedTrace(raw="", think=think, answer=answer, evidence=items)


def colour(img: Image.Image) -> tuple[int, int, int]:
    r, g, b = img.convert("RGB").getpixel((img.width // 2, img.height // 2))  # type: ignore[misc]
    return (r, g, b)


def red_share_scorer(prompt: Prompt, images: Sequence[Image.Image]) -> str:
    """A stand-in judge that looks at the pixels: 2 if every crop is red, 1 if some
    are, 0 if none."""
    reds = sum(colour(im) == RED for im in images)
    return "2" if reds == len(images) else "1" if reds else "0"


CODE_MAPPING = [
    # the released code's table
    ("2", 1.0, 2.0),
    ("1", 0.6, 1.0),
    ("0", 0.2, 0.0),
    # the first 0/1/2 digit counts, surrounding text ignored
    ("Score: 1.", 0.6, 1.0),
    # unreadable replies weigh like a 0, and report no score
    ("I think it is relevant", 0.2, None),
    ("5", 0.2, None),
    ("", 0.2, None),
]


@pytest.mark.parametrize(("reply", "weight", "score"), CODE_MAPPING)
async def test_code_mode_mapping(reply: str, weight: float, score: float | None) -> None:
    backend = ScriptedBackend(scores=[reply])
    (v,) = await verify(backend, frames(), "q?", [trace(ev("cat", 0.0, LEFT))])
    assert (v.weight, v.score, v.calls) == (pytest.approx(weight), score, 1)


async def test_no_or_too_many_crops_means_no_evidence() -> None:
    backend = ScriptedBackend(scores=["2"])
    traces = [
        trace(),                                        # no evidence -> 0.2, no call
        trace(ev("cat", 0.0, *([SMALL] * 11))),         # 11 crops > 10 -> 0.2, no call
        trace(ev("cat", 0.0, *([SMALL] * 6)), ev("dog", 2.0, *([SMALL] * 4))),  # 10: scored
        trace(ev("cat", 0.0, LEFT), think=None),        # unvotable -> 0, no call
    ]
    out = await verify(backend, frames(), "q?", traces)
    assert [v.weight for v in out] == [0.2, 0.2, 1.0, 0.0]
    assert [c.image_count for c in backend.calls] == [10]


async def test_crops_have_frame_size_and_come_from_nearest_frame() -> None:
    seen: list[list[Image.Image]] = []

    def judge(prompt: Prompt, images: Sequence[Image.Image]) -> str:
        seen.append(list(images))
        assert prompt.system == SCORER_SYSTEM_PROMPT and prompt.image_count == len(images)
        return "2"

    t = trace(ev("cat", 0.4, LEFT), ev("car", 0.9, RIGHT), ev("tree", 1.2, LEFT, RIGHT))
    backend = ScriptedBackend(scores=judge)
    await verify(backend, frames(), "Where is the cat?", [t])
    (crops,) = seen
    # the question is in the scorer's rubric text
    rubric = backend.calls[0].prompt.user[0]
    assert isinstance(rubric, TextPart) and "Where is the cat?" in rubric.text
    assert [c.size for c in crops] == [FED] * 4
    # 0.4 s and 0.9 s are nearest frame 0 (red | blue); 1.2 s is nearest frame 1 (green)
    assert [colour(c) for c in crops] == [RED, BLUE, GREEN, GREEN]


def test_crop_clamps_degenerate_boxes_inside_the_frame() -> None:
    fs = frames()
    # a zero-area box at the far corner still yields a 1x1 crop, upsampled to frame size
    crop = crop_evidence(fs, 0.0, (112.0, 84.0, 112.0, 84.0))
    assert crop.size == FED and colour(crop) == BLUE


async def test_paper_mode_averages_objects_and_can_change_the_winner() -> None:
    # Traces 0, 1 answer A citing a red object and two blue ones; trace 2 answers B
    # citing only red. CODE (one call per trace): A gets "1" -> 0.6 each = 1.2 vs B 1.0.
    # PAPER (one call per object): A gets mean(2, 0, 0) = 2/3 -> 0.2 + 0.4 * 2/3 = 0.467
    # each = 0.933 vs B 1.0. Majority voting would say A (2 votes to 1).
    mixed = (ev("cat", 0.0, LEFT), ev("sky", 0.0, RIGHT), ev("sea", 0.0, RIGHT))
    traces = [trace(*mixed, answer="A"), trace(*mixed, answer="A"),
              trace(ev("cat", 0.0, LEFT), answer="B")]
    winners = {}
    for mode in (WeightMode.CODE, WeightMode.PAPER):  # RELEASED: test_released_tts.py
        backend = ScriptedBackend(scores=red_share_scorer)
        checks = await verify(backend, frames(), "q?", traces, mode=mode)
        calls = len([c for c in backend.calls if c.kind == "score"])
        assert calls == (3 if mode is WeightMode.CODE else 7)
        out = vote(traces, [c.weight for c in checks], task=MCQ, mode=VotingMode.CONFIDENCE)
        winners[mode] = (out.winner, [round(c.weight, 3) for c in checks])
    assert winners[WeightMode.CODE] == ("A", [0.6, 0.6, 1.0])
    assert winners[WeightMode.PAPER] == ("B", [0.467, 0.467, 1.0])

    majority = vote(traces, [1.0] * 3, task=MCQ, mode=VotingMode.MAJORITY)
    assert majority.winner == "A"


def test_parse_score_never_raises_and_reads_first_digit() -> None:
    # first 0/1/2 wins even when another digit follows; other digits are not scores
    assert [parse_score(r) for r in ["1 or 2", "9", "Score:\n0", "two"]] == [1, None, 0, None]


@dataclass
class Watched:
    """Wraps the double and records how many score calls were in flight at once."""

    inner: ScriptedBackend
    in_flight: int = 0
    peak: int = 0

    async def score(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        *,
        sampling: SamplingParams | None = None,
    ) -> ScoreResult:
        self.in_flight += 1
        self.peak = max(self.peak, self.in_flight)
        try:
            return await self.inner.score(prompt, images, sampling=sampling)
        finally:
            self.in_flight -= 1


@pytest.mark.parametrize(("bound", "peak"), [(8, 8), (3, 3), (1, 1)])
async def test_scoring_calls_overlap_up_to_the_bound(bound: int, peak: int) -> None:
    # 8 traces, each one call that takes 20 ms: they all wait together, up to `bound`
    watched = Watched(ScriptedBackend(scores=["2"], delay=0.02))
    traces = [trace(ev("cat", 0.0, LEFT)) for _ in range(8)]
    out = await verify(watched, frames(), "q?", traces, max_concurrency=bound)  # type: ignore[arg-type]
    assert watched.peak == peak and [v.weight for v in out] == [1.0] * 8


async def test_a_failed_scoring_call_costs_only_that_trace() -> None:
    calls = 0

    def flaky(prompt: Prompt, images: Sequence[Image.Image]) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise BackendTimeout("scorer too slow")
        return "2"

    traces = [trace(ev("cat", 0.0, LEFT)) for _ in range(3)]
    out = await verify(ScriptedBackend(scores=flaky), frames(), "q?", traces, max_concurrency=1)
    assert [(v.weight, v.failed) for v in out] == [(1.0, False), (0.2, True), (1.0, False)]


async def test_usage_is_summed_per_trace() -> None:
    # PAPER mode: trace 0 cites two objects (two calls), trace 1 one object (one call),
    # trace 2 nothing (no call), trace 3 is unvotable (no call). Replies are 3 words.
    traces = [trace(ev("cat", 0.0, LEFT), ev("dog", 0.0, RIGHT)), trace(ev("cat", 0.0, LEFT)),
              trace(), trace(ev("cat", 0.0, LEFT), answer=None)]
    backend = ScriptedBackend(scores=["I say 2"])
    out = await verify(backend, frames(), "q?", traces, mode=WeightMode.PAPER)
    calls = [c for c in backend.calls if c.kind == "score"]
    words = prompt_words(calls[0].prompt)  # every call here carries one crop
    assert len(calls) == 3 and all(prompt_words(c.prompt) == words for c in calls)
    assert [v.usage for v in out] == [Usage(2 * words, 6), Usage(words, 3), Usage(), Usage()]
