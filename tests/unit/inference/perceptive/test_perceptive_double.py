"""The perceptive double answers from the pixels it is fed (PIL-drawn frames here;
generated videos in tests/integration/inference/test_search_e2e.py)."""

from __future__ import annotations

import asyncio

import pytest
from PIL import Image, ImageDraw

from service.grounding.parser import parse_trace
from service.grounding.prompt import build_prompt, build_scorer_prompt
from service.grounding.types import TaskType
from service.inference.backend import BackendBadRequest, SamplingParams
from service.inference.perceptive.double import PerceptiveDouble, position
from service.inference.perceptive.questions import parse_question
from service.inference.perceptive.vision import covers, find_shapes

SIZE = (168, 84)


def frame(*shapes):
    """A black frame with (colour, kind, box) shapes drawn on it."""
    im = Image.new("RGB", SIZE, (0, 0, 0))
    draw = ImageDraw.Draw(im)
    for colour, kind, box in shapes:
        (draw.rectangle if kind == "rect" else draw.ellipse)(
            (box[0], box[1], box[2] - 1, box[3] - 1), fill=colour)
    return im


RED_CIRCLE = ((255, 0, 0), "ellipse", (120, 30, 144, 54))
BLUE_SQUARE = ((0, 0, 255), "rect", (10, 10, 30, 30))


@pytest.mark.parametrize(("shapes", "want"), [
    ([], []),
    ([BLUE_SQUARE], [("blue square", (10, 10, 30, 30))]),
    ([RED_CIRCLE], [("red circle", (120, 30, 144, 54))]),
    ([((0, 255, 0), "rect", (0, 0, 40, 10))], [("green rectangle", (0, 0, 40, 10))]),
    ([BLUE_SQUARE, RED_CIRCLE], [("red circle", (120, 30, 144, 54)),
                                 ("blue square", (10, 10, 30, 30))]),
])
def test_find_shapes(shapes, want):
    got = [(s.name, s.box) for s in find_shapes(frame(*shapes))]
    assert got == [(n, tuple(map(float, b))) for n, b in want]


def test_grey_noise_is_not_a_shape():
    import numpy as np
    noise = np.random.default_rng(0).integers(40, 90, (84, 168, 1), np.uint8).repeat(3, 2)
    assert find_shapes(Image.fromarray(noise)) == []


@pytest.mark.parametrize(("text", "kind", "colour", "shape"), [
    ("When does the red circle appear?", "when", "red", "circle"),
    ("when did a blue square show up in the video", "when", "blue", "square"),
    ("When is the ball visible?", "when", None, "ball"),
    ("Where is the green rectangle?", "where", "green", "rectangle"),
    ("What colour is the circle?", "colour", None, "circle"),
    ("What color is the square?\nA. red\nB. blue", "colour", None, "square"),
    ("What is the man holding?", "unknown", None, None),
])
def test_question_grammar(text, kind, colour, shape):
    q = parse_question(text)
    assert (q.kind, q.colour, q.shape) == (kind, colour, shape)


def ask(double, frames, times, question, n=4, task=None, options=None):
    prompt = build_prompt(question, times, task=task, options=options)
    res = asyncio.run(double.sample(prompt, frames, n, SamplingParams(seed=1)))
    return [parse_trace(c.text, task=prompt.task, fed_size=SIZE) for c in res.completions], res


def test_when_answer_cites_the_frame_it_saw_with_fed_pixel_boxes():
    frames = [frame(BLUE_SQUARE), frame(BLUE_SQUARE, RED_CIRCLE), frame(BLUE_SQUARE)]
    traces, res = ask(PerceptiveDouble(), frames, [100.0, 102.5, 105.0],
                      "When does the red circle appear?")
    for t in traces:
        assert t.defects == () and t.votable
        assert t.answer == "The red circle appears at 102.5s."
        assert [(e.name, e.time, e.boxes) for e in t.evidence] == [
            ("red circle", 102.5, ((120.0, 30.0, 144.0, 54.0),))]
    # usage counts the images: 6 x 3 patches of 28 px per 168x84 frame
    assert res.usage.prompt_tokens > 3 * 18


def test_answers_change_with_the_pixels():
    double = PerceptiveDouble()
    none, _ = ask(double, [frame(BLUE_SQUARE)] * 2, [0.0, 1.0], "When does the red circle appear?")
    assert none[0].evidence == () and "does not appear" in (none[0].answer or "")
    where, _ = ask(double, [frame(RED_CIRCLE)], [3.0], "Where is the red circle?")
    assert where[0].answer == "The red circle is at the right of the frame."
    colour, _ = ask(double, [frame(BLUE_SQUARE)], [0.0], "What colour is the square?",
                    options=["red", "blue"])
    assert colour[0].answer == "B"


def test_temporal_task_answers_a_span_in_the_temporal_grammar():
    frames = [frame(), frame(RED_CIRCLE), frame(RED_CIRCLE), frame()]
    traces, _ = ask(PerceptiveDouble(), frames, [0.0, 2.0, 4.0, 6.0],
                    "When is the red circle visible?", task=TaskType.TEMPORAL)
    assert traces[0].span == (2.0, 4.0) and traces[0].defects == ()


def test_hallucinating_traces_cite_what_is_not_there_and_agree_with_each_other():
    frames = [frame(BLUE_SQUARE), frame(BLUE_SQUARE, RED_CIRCLE), frame(BLUE_SQUARE)]
    traces, _ = ask(PerceptiveDouble(hallucination=0.5, seed=3), frames,
                    [0.0, 1.0, 2.0], "When does the red circle appear?", n=16)
    lies = [t for t in traces if t.answer != "The red circle appears at 1.0s."]
    assert 3 <= len(lies) <= 13                      # about half, seeded
    assert len({t.answer for t in lies}) == 1        # one phantom per call
    for t in lies:
        for e in t.evidence:
            if e.time == 1.0:                        # where the circle really is ...
                assert not _overlaps(e.boxes[0], RED_CIRCLE[2])  # ... the box misses it


def _overlaps(a, b):
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def test_runs_repeat_exactly():
    frames = [frame(BLUE_SQUARE, RED_CIRCLE)] * 3
    a, _ = ask(PerceptiveDouble(hallucination=0.4), frames, [0.0, 1.0, 2.0],
               "Where is the red circle?", n=8)
    b, _ = ask(PerceptiveDouble(hallucination=0.4), frames, [0.0, 1.0, 2.0],
               "Where is the red circle?", n=8)
    assert [t.raw for t in a] == [t.raw for t in b]


@pytest.mark.parametrize(("crops", "want"), [
    ([frame(RED_CIRCLE).crop(RED_CIRCLE[2])], "2"),
    ([frame(RED_CIRCLE).crop(RED_CIRCLE[2]), frame(BLUE_SQUARE).crop((0, 0, 40, 40))], "1"),
    ([frame(BLUE_SQUARE).crop((60, 0, 100, 40))], "0"),
])
def test_scores_crops_by_whether_they_show_the_named_object(crops, want):
    prompt = build_scorer_prompt("When does the red circle appear?", len(crops))
    crops = [c.resize(SIZE) for c in crops]
    assert asyncio.run(PerceptiveDouble().score(prompt, crops)).text == want


def test_as_strict_as_the_engine_about_images():
    prompt = build_prompt("Where is the red circle?", [0.0, 1.0])
    with pytest.raises(BackendBadRequest):
        asyncio.run(PerceptiveDouble().sample(prompt, [frame()], 1, SamplingParams()))
    with pytest.raises(BackendBadRequest):
        asyncio.run(PerceptiveDouble(max_images=1).sample(prompt, [frame()] * 2, 1,
                                                          SamplingParams()))


@pytest.mark.parametrize(("box", "want"), [
    ((0, 0, 10, 10), "top left"), ((80, 35, 90, 45), "centre"),
    ((150, 70, 168, 84), "bottom right"), ((80, 0, 90, 10), "top"),
])
def test_position(box, want):
    assert position(box, SIZE) == want


def test_covers_needs_a_real_share_of_the_crop():
    assert covers(frame(RED_CIRCLE).crop(RED_CIRCLE[2]), "red", "circle")
    assert not covers(frame(RED_CIRCLE), "red", "circle")   # 24x24 in 168x84: too small
    assert not covers(frame(RED_CIRCLE).crop(RED_CIRCLE[2]), "blue", None)


def test_a_scorer_prompt_sampled_over_chat_is_scored():
    """Through a chat server (vLLM, the stand-in) the verifier's call is a sample."""
    crop = frame(RED_CIRCLE).crop(RED_CIRCLE[2]).resize(SIZE)
    prompt = build_scorer_prompt("When does the red circle appear?", 1)
    res = asyncio.run(PerceptiveDouble().sample(prompt, [crop], 1, SamplingParams()))
    assert [c.text for c in res.completions] == ["2"]
