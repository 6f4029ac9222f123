"""Property tests: the parser never raises, its output always respects the frame and the
video, and well-formed traces written by `grammar` are read back exactly."""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.grounding import grammar
from service.grounding.parser import parse_trace
from service.grounding.types import ParsedTrace, Size, TaskType

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

FRAGMENTS = [
    "<think>", "</think>", "<answer>", "</answer>", "<obj>", "</obj>", "<box>", "</box>",
    "<t>", "</t>", "at", "s", "[", "]", ",", "-", ".", "1e999", "nan", "inf", " ", "\n",
    "From ", " to ", "Correct Option:", "(", ")", "A", "Z", "0:59", "99999", "-3", "< box >",
]
sizes = st.tuples(st.integers(1, 2000), st.integers(1, 2000))
durations = st.one_of(st.none(), st.floats(0.0, 1e5, allow_nan=False))
tasks = st.sampled_from(list(TaskType))
n_options = st.one_of(st.none(), st.integers(0, 26))
soup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=6)), max_size=60).map(
    "".join
)


def check_invariants(p: ParsedTrace, size: Size, duration: float | None, n: int | None) -> None:
    """What every ParsedTrace must satisfy, whatever the text."""
    w, h = size
    for item in p.evidence:
        assert item.name and item.boxes
        assert math.isfinite(item.time) and item.time >= 0
        assert duration is None or item.time <= duration
        for x1, y1, x2, y2 in item.boxes:
            assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h
    if p.span is not None:
        assert 0 <= p.span[0] <= p.span[1]
        assert duration is None or p.span[1] <= duration
    assert p.answer is None or p.answer.strip() == p.answer != ""
    assert all(d.code for d in p.defects)


def letter_ok(p: ParsedTrace, task: TaskType, n: int | None) -> bool:
    if task is not TaskType.MCQ or p.answer is None:
        return True
    return len(p.answer) == 1 and (n is None or ord(p.answer) - ord("A") < n)


@SETTINGS
@given(text=st.text(), size=sizes, duration=durations, task=tasks, n=n_options)
def test_never_raises_on_arbitrary_text(
    text: str, size: Size, duration: float | None, task: TaskType, n: int | None
) -> None:
    p = parse_trace(text, task=task, fed_size=size, duration=duration, n_options=n)
    check_invariants(p, size, duration, n)
    assert letter_ok(p, task, n)


@SETTINGS
@given(text=soup, size=sizes, duration=durations, task=tasks, n=n_options)
def test_never_raises_on_tag_soup(
    text: str, size: Size, duration: float | None, task: TaskType, n: int | None
) -> None:
    # Tag fragments make the parser's branches reachable, unlike uniform random text.
    p = parse_trace(text, task=task, fed_size=size, duration=duration, n_options=n)
    check_invariants(p, size, duration, n)
    assert letter_ok(p, task, n)


@st.composite
def well_formed(draw: st.DrawFn) -> tuple[str, Size, float, list[tuple[str, float, list]]]:
    """A trace as training writes it: integer boxes inside the frame, times in the video."""
    w, h = draw(sizes.filter(lambda s: s[0] > 1 and s[1] > 1))
    duration = draw(st.floats(1.0, 600.0))
    mentions = []
    for _ in range(draw(st.integers(0, 4))):
        name = draw(st.sampled_from(["man", "red car", "dog", "ball"]))
        boxes = []
        for _ in range(draw(st.integers(1, 3))):
            x1, x2 = sorted(draw(st.lists(st.integers(0, w), min_size=2, max_size=2, unique=True)))
            y1, y2 = sorted(draw(st.lists(st.integers(0, h), min_size=2, max_size=2, unique=True)))
            boxes.append((x1, y1, x2, y2))
        time = round(draw(st.floats(0.0, duration)), 1)
        mentions.append((name, min(time, math.floor(duration * 10) / 10), boxes))
    think = " then ".join(grammar.format_evidence(n, b, t) for n, t, b in mentions)
    text = grammar.format_trace(f"I see {think}.", draw(st.sampled_from("ABCD")))
    return text, (w, h), duration, mentions


@SETTINGS
@given(case=well_formed())
def test_well_formed_traces_read_exactly(case: tuple[str, Size, float, list]) -> None:
    text, size, duration, mentions = case
    p = parse_trace(text, task=TaskType.MCQ, fed_size=size, duration=duration, n_options=4)
    assert p.defects == ()
    assert [(e.name, e.time, [tuple(map(int, b)) for b in e.boxes]) for e in p.evidence] == [
        (n, t, b) for n, t, b in mentions
    ]
    assert p.votable


@SETTINGS
@given(
    case=well_formed(),
    cuts=st.lists(st.tuples(st.integers(0, 400), st.integers(0, 8), st.sampled_from(FRAGMENTS))),
    task=tasks,
)
def test_never_raises_on_mutated_traces(
    case: tuple[str, Size, float, list], cuts: list[tuple[int, int, str]], task: TaskType
) -> None:
    # Deletions and insertions of tag fragments at random places of a good trace.
    text, size, duration, _ = case
    for at, length, insert in cuts:
        text = text[:at] + insert + text[at + length :]
    p = parse_trace(text, task=task, fed_size=size, duration=duration, n_options=4)
    check_invariants(p, size, duration, 4)
    assert letter_ok(p, task, 4)


PATHOLOGICAL = [
    "<t>" + " " * 50_000 + "x",                       # long whitespace inside a time tag
    "<t>1" + " " * 50_000 + "</x>",                   # whitespace after a number in <t>
    "1" + " " * 50_000 + "x",                         # untagged-span candidate, no separator
    "answer" + " " * 50_000 + "x",                    # MCQ keyword then a whitespace run
    "<obj>a</obj>" + "<box>[1,1,2,2]</box>" * 5_000,  # many boxes, never closed by a time
    "<obj>a</obj><box>[1,1,2,2]</box>" + " " * 50_000 + "<t>1</t>s",  # huge gap before time
    "<" * 50_000,                                     # tag openers only
    "9" * 50_000,                                     # one enormous number
]


@pytest.mark.timeout(20)
@pytest.mark.parametrize("body", PATHOLOGICAL, ids=range(len(PATHOLOGICAL)))
@pytest.mark.parametrize("task", list(TaskType))
def test_no_catastrophic_backtracking(body: str, task: TaskType) -> None:
    # Guards: the regexes stay near-linear on adversarial input (a quadratic one would take
    # minutes on 50k characters and trip the timeout).
    text = f"<think>{body}</think><answer>{body}</answer>"
    p = parse_trace(text, task=task, fed_size=(100, 100), duration=10.0)
    check_invariants(p, (100, 100), 10.0, None)
