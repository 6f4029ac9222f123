"""Pipeline with the ScriptedBackend double and a FrameSet of PIL frames.

Completions are written with the grammar's own writers (`format_trace`,
`format_evidence`), read by the real parser, scored by a pixel-looking judge, voted.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from service.grounding.grammar import format_evidence, format_temporal_answer, format_trace
from service.grounding.types import Box, FrameSetMeta, ImagePart, Prompt, TaskType, TextPart
from service.grounding.voting import VotingMode
from service.inference.backend import BackendUnavailable, SamplingParams, Usage
from service.inference.doubles import ScriptedBackend
from service.inference.pipeline import Pipeline
from service.inference.types import PipelineOptions, WeightMode
from service.video.frameset import FrameSet

FED = (112, 84)
ORIG = (448, 336)  # 4x the fed size: original boxes are fed boxes times 4
RED, BLUE = (255, 0, 0), (0, 0, 255)
LEFT: Box = (0.0, 0.0, 56.0, 84.0)     # the red half of every frame
RIGHT: Box = (56.0, 0.0, 112.0, 84.0)  # the blue half
OPTIONS = ["a red ball", "a blue ball", "a green ball", "nothing"]


def frames() -> FrameSet:
    imgs = []
    for _ in range(4):
        im = Image.new("RGB", FED, BLUE)
        im.paste(Image.new("RGB", (56, 84), RED), (0, 0))
        imgs.append(im)
    meta = FrameSetMeta(times=(0.0, 1.0, 2.0, 3.0), fed_size=FED, orig_size=ORIG, duration=4.0)
    return FrameSet(imgs, meta)


def judge(prompt: Prompt, images: Sequence[Image.Image]) -> str:
    """Scores by looking at the crops: all red -> 2, some red -> 1, none -> 0."""
    reds = sum(im.getpixel((5, 5)) == RED for im in images)
    return "2" if reds == len(images) else "1" if reds else "0"


def cite(answer: str, *mentions: tuple[str, Box, float]) -> str:
    think = "I look. " + " then ".join(format_evidence(n, [b], t) for n, b, t in mentions)
    return format_trace(think, answer)


# Three traces answer A citing the red half (verified 2 -> 1.0 each); five answer B
# citing the blue half (verified 0 -> 0.2 each). Majority: B 5 votes. Confidence:
# A 3.0 vs B 1.0.
SPLIT = [cite("A", ("ball", LEFT, 1.0))] * 3 + [cite("B", ("ball", RIGHT, 2.0))] * 5


async def test_confidence_vote_end_to_end() -> None:
    backend = ScriptedBackend(completions=SPLIT, scores=judge)
    sampling = SamplingParams(temperature=1.0, top_p=0.95, seed=7)
    opts = PipelineOptions(n=8, sampling=sampling, return_traces=True)
    v = await Pipeline(backend).run(frames(), "What is shown?", options=OPTIONS, opts=opts)
    assert (v.answer, v.task, v.abstained) == ("A", TaskType.MCQ, False)
    assert v.confidence == pytest.approx(3.0 / 4.0)
    assert [(r.answer, r.votes, round(r.weight, 6)) for r in v.votes] == [("A", 3, 3.0),
                                                                           ("B", 5, 1.0)]
    # ONE sampling call for all 8 samples, sampling passed through, all frames attached
    samples = [c for c in backend.calls if c.kind == "sample"]
    assert [(c.n, c.sampling, c.image_count) for c in samples] == [(8, sampling, 4)]
    assert sum(c.kind == "score" for c in backend.calls) == 8
    # the prompt came from the one builder: frame labels and image slots in order
    user = samples[0].prompt.user
    assert isinstance(user[0], TextPart) and user[0].text == "Frame 1 at 0.0s: "
    assert [p.index for p in user if isinstance(p, ImagePart)] == [0, 1, 2, 3]
    # evidence from the winning traces only, in every coordinate system
    (ev,) = v.evidence
    assert (ev.name, ev.support, ev.traces, ev.time) == ("ball", 3, (0, 1, 2), 1.0)
    assert ev.box_orig == pytest.approx((0.0, 0.0, 224.0, 336.0))
    assert ev.box_norm == pytest.approx((0.0, 0.0, 0.5, 1.0))
    # traces on request, with their weights and verifier scores
    assert [(t.weight, t.verifier_score) for t in v.traces] == [(1.0, 2.0)] * 3 + [(0.2, 0.0)] * 5
    # usage: the sampling call's completions plus the 8 one-digit scorer replies
    assert v.usage_sampling.completion_tokens == sum(len(t.split()) for t in SPLIT)
    assert v.usage.completion_tokens == v.usage_sampling.completion_tokens + 8
    assert v.model_id == "scripted-double" and v.revision == "scripted"
    assert v.timings.parse > 0 and v.timings.verify > 0 and v.timings.vote > 0


async def test_majority_and_single_skip_the_verifier() -> None:
    for mode, winner, confidence in [(VotingMode.MAJORITY, "B", 5 / 8),
                                     (VotingMode.SINGLE, "A", 1.0)]:
        backend = ScriptedBackend(completions=SPLIT, scores=judge)
        v = await Pipeline(backend).run(frames(), "q", options=OPTIONS,
                                        opts=PipelineOptions(voting=mode))
        assert (v.answer, v.confidence) == (winner, pytest.approx(confidence))
        assert [c.kind for c in backend.calls] == ["sample"] and v.timings.verify == 0.0


async def test_weight_mode_is_passed_to_the_verifier() -> None:
    # PAPER mode makes one scoring call per cited object: trace cites two objects
    two = cite("A", ("ball", LEFT, 1.0), ("cube", RIGHT, 1.0))
    calls = {}
    for mode in WeightMode:
        backend = ScriptedBackend(completions=[two], scores=judge)
        v = await Pipeline(backend).run(frames(), "q", options=OPTIONS,
                                        opts=PipelineOptions(n=2, weight_mode=mode,
                                                             return_traces=True))
        calls[mode] = (sum(c.kind == "score" for c in backend.calls), v.traces[0].weight)
    # CODE: one call per trace, "1" (one red, one blue) -> 0.6
    # PAPER: two calls per trace, mean(2, 0) = 1 -> 0.2 + 0.4 = 0.6
    # RELEASED: one call per trace with both crops, exact reply "1" -> 0.6
    assert calls == {WeightMode.CODE: (2, 0.6), WeightMode.PAPER: (4, pytest.approx(0.6)),
                     WeightMode.RELEASED: (2, 0.6)}


GARBAGE = [
    "",                                          # empty completion
    "I cannot answer that.",                     # no tags at all
    "<answer>",                                  # an open tag and nothing else
    "<think><obj>x</obj><box>[1,2</box>",        # cut mid-box, no answer
    "\x00\udcff<think>" * 50,                    # control chars, lone surrogates, repetition
    "<answer>B</answer>",                        # an answer but no think: not votable
]


async def test_garbage_output_gives_a_verdict_not_an_exception() -> None:
    backend = ScriptedBackend(completions=GARBAGE, scores=judge)
    v = await Pipeline(backend).run(frames(), "q", options=OPTIONS,
                                    opts=PipelineOptions(n=6, return_traces=True))
    assert (v.answer, v.confidence, v.abstained, v.votes, v.evidence) == (None, 0.0, True, (),
                                                                         ())
    assert "no_votable_trace" in v.defects and "missing_think" in v.defects
    assert len(v.defects) == len(set(v.defects))  # deduplicated
    assert not any(c.kind == "score" for c in backend.calls)  # nothing worth scoring
    assert [t.weight for t in v.traces] == [0.0] * 6


async def test_abstains_below_threshold() -> None:
    # 3.0 / 4.0 = 0.75 < 0.8: abstain; the vote table still shows the candidates
    backend = ScriptedBackend(completions=SPLIT, scores=judge)
    v = await Pipeline(backend).run(frames(), "q", options=OPTIONS,
                                    opts=PipelineOptions(abstain_below=0.8))
    assert (v.answer, v.abstained, v.evidence) == (None, True, ())
    assert v.confidence == pytest.approx(0.75) and v.votes[0].answer == "A"


async def test_out_of_range_letter_is_not_a_vote() -> None:
    # with 4 options, "E" is unreadable (parser defect) and cannot win
    backend = ScriptedBackend(completions=[cite("E", ("ball", LEFT, 1.0))] * 3
                              + [cite("D", ("ball", RIGHT, 1.0))], scores=judge)
    v = await Pipeline(backend).run(frames(), "q", options=OPTIONS,
                                    opts=PipelineOptions(n=4))
    assert v.answer == "D" and "mcq_out_of_range" in v.defects


async def test_temporal_verdict_has_a_span() -> None:
    completions = [format_trace("at <t>1.0</t>s", format_temporal_answer(1.0, 3.0)),
                   format_trace("at <t>1.0</t>s", format_temporal_answer(1.2, 3.2)),
                   format_trace("later", format_temporal_answer(0.0, 0.5))]
    backend = ScriptedBackend(completions=completions, scores=judge)
    v = await Pipeline(backend).run(frames(), "When does it roll?", task="temporal",
                                    opts=PipelineOptions(n=3, voting=VotingMode.MAJORITY))
    assert v.task is TaskType.TEMPORAL and v.votes[0].votes == 2
    assert v.span == pytest.approx((1.1, 3.1))


async def test_free_form_variants_vote_together() -> None:
    completions = [cite("Two balls.", ("ball", LEFT, 1.0)), cite("2 balls", ("ball", LEFT, 1.2)),
                   cite("three balls", ("ball", RIGHT, 1.0))]
    backend = ScriptedBackend(completions=completions, scores=judge)
    v = await Pipeline(backend).run(frames(), "How many balls?", opts=PipelineOptions(n=3))
    assert v.task is TaskType.FREE_FORM and v.answer == "Two balls."
    assert v.votes[0].traces == (0, 1) and v.evidence[0].support == 2


async def test_backend_failure_propagates() -> None:
    with pytest.raises(BackendUnavailable):
        await Pipeline(ScriptedBackend(available=False)).run(frames(), "q")


_fragments = st.sampled_from([
    "<think>", "</think>", "<answer>", "</answer>", "<obj>", "</obj>", "<box>", "</box>",
    "<t>", "</t>s", "at", "[1,2,3,4]", "[300,-5,2,900]", "9.0", "A", "(B)", "From", "to",
    " ", "\n", "man", "[0.1,0.2,0.3,0.4]", "nan", "1e309",
])
_completion = st.one_of(st.text(max_size=80), st.lists(_fragments, max_size=30).map("".join))


@settings(max_examples=60, deadline=None)
@given(st.lists(_completion, min_size=1, max_size=4), st.sampled_from(list(TaskType)),
       st.sampled_from(["0", "1", "2", "?"]))
def test_any_model_text_gives_a_verdict(texts: list[str], task: TaskType, score: str) -> None:
    backend = ScriptedBackend(completions=texts, scores=[score])
    opts = PipelineOptions(n=len(texts), return_traces=True)
    v = asyncio.run(Pipeline(backend).run(frames(), "q", options=OPTIONS if task is
                                          TaskType.MCQ else None, task=task, opts=opts))
    assert 0.0 <= v.confidence <= 1.0 and len(v.traces) == len(texts)
    assert (v.answer is None) == v.abstained
    for ev in v.evidence:  # whatever was cited, reported boxes stay inside the video
        assert all(0.0 <= c <= 1.0 for c in ev.box_norm + ev.box_display_norm)


async def test_greedy_n_is_one_sample_reported_n_times() -> None:
    """vLLM refuses n > 1 when greedy: the pipeline asks any backend for ONE sample,
    verifies it once and reports it n times; the verdict says so."""
    backend = ScriptedBackend(SPLIT, judge)  # would cycle A,A,A,B,... if asked for 8
    opts = PipelineOptions(n=8, sampling=SamplingParams(temperature=0.0), return_traces=True)
    verdict = await Pipeline(backend).run(frames(), "What?", options=OPTIONS, opts=opts)
    sample_calls = [c for c in backend.calls if c.kind == "sample"]
    assert [c.n for c in sample_calls] == [1]
    assert len([c for c in backend.calls if c.kind == "score"]) == 1  # verified once
    assert verdict.greedy_repeated
    assert len(verdict.traces) == 8 and {t.text for t in verdict.traces} == {SPLIT[0]}
    assert verdict.votes[0].answer == "A" and verdict.votes[0].votes == 8
    assert verdict.usage_verify == backend_score_usage(backend)


def backend_score_usage(backend: ScriptedBackend) -> Usage:
    """What the one scoring call cost, by the double's own word count."""
    score = next(c for c in backend.calls if c.kind == "score")
    words = sum(len(p.text.split()) for p in score.prompt.user if isinstance(p, TextPart))
    return Usage(words, 1)


async def test_sampled_n_is_one_call_with_n() -> None:
    backend = ScriptedBackend(SPLIT, judge)
    opts = PipelineOptions(n=8, sampling=SamplingParams(temperature=0.01))  # not greedy
    verdict = await Pipeline(backend).run(frames(), "What?", options=OPTIONS, opts=opts)
    assert [c.n for c in backend.calls if c.kind == "sample"] == [8]
    assert not verdict.greedy_repeated
