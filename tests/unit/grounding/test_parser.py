"""Parser case table: each case is real-looking model text and what must be read from it."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest

from service.grounding.parser import normalize_mcq_letter, parse_trace
from service.grounding.types import Box, EvidenceItem, TaskType

FED = (448, 448)
SPEC_TRACE = (
    "<think> ... <obj>man</obj><box>[249,60,395,252]</box>at<t>9.0</t>s ... </think>\n"
    "<answer>C</answer>"
)


@dataclass(frozen=True)
class Case:
    text: str
    answer: str | None
    evidence: tuple[tuple[str, float, tuple[Box, ...]], ...] = ()
    defects: frozenset[str] = frozenset()
    kw: dict[str, Any] = field(default_factory=dict)
    span: tuple[float, float] | None = None
    think_none: bool = False


def _ev(name: str, t: float, *boxes: Box) -> tuple[str, float, tuple[Box, ...]]:
    return (name, t, boxes)


MCQ = {"task": TaskType.MCQ, "fed_size": FED, "duration": 20.0}
FREE = {"task": TaskType.FREE_FORM, "fed_size": FED, "duration": 20.0}
TEMP = {"task": TaskType.TEMPORAL, "fed_size": FED, "duration": 30.0}
D = frozenset

CASES: dict[str, Case] = {
    # SPEC section 3's real trace, read exactly, no defects.
    "spec_trace": Case(SPEC_TRACE, "C", (_ev("man", 9.0, (249, 60, 395, 252)),), kw=MCQ),
    # The same trace in a smaller frame (420x224): y2=252 is clipped to the frame.
    "spec_trace_clipped": Case(
        SPEC_TRACE, "C", (_ev("man", 9.0, (249, 60, 395, 224)),), D({"box_clipped"}),
        kw={**MCQ, "fed_size": (420, 224)},
    ),
    # One <obj> with several <box> is ONE evidence item with several boxes.
    "multi_box": Case(
        "<think><obj>cup</obj><box>[1,2,3,4]</box><box>[5,6,7,8]</box>at<t>2.5</t>s</think>"
        "<answer>A cup.</answer>",
        "A cup.", (_ev("cup", 2.5, (1, 2, 3, 4), (5, 6, 7, 8)),), kw=FREE,
    ),
    # Two mentions in one think, and a plain time mention that is not evidence.
    "two_mentions_and_plain_time": Case(
        "<think>At <t>1.0</t>s nothing. <obj>a</obj><box>[0,0,10,10]</box>at<t>1.0</t>s and "
        "<obj>b</obj><box>[10,10,20,20]</box>at<t>3.0</t>s</think><answer>yes</answer>",
        "yes", (_ev("a", 1.0, (0, 0, 10, 10)), _ev("b", 3.0, (10, 10, 20, 20))), kw=FREE,
    ),
    # Missing </think> (the model jumped to <answer>): think ends at <answer>.
    "missing_think_close": Case(
        "<think><obj>x</obj><box>[1,1,5,5]</box>at<t>1</t>s\n<answer>B</answer>",
        "B", (_ev("x", 1.0, (1, 1, 5, 5)),), D({"missing_think_close"}), kw=MCQ,
    ),
    # Missing </answer> (cut by max_tokens): the answer runs to the end.
    "missing_answer_close": Case(
        "<think>t</think><answer>The red car", "The red car", (),
        D({"missing_answer_close"}), kw=FREE,
    ),
    # No <think> at all: think is None (weight 0 in voting), answer still read.
    "no_think": Case("<answer>D</answer>", "D", (), D({"missing_think"}), kw=MCQ, think_none=True),
    # </think> without <think> (template put <think> in the prompt): text before it.
    "missing_think_open": Case(
        "reasoning <obj>y</obj><box>[2,2,4,4]</box>at<t>0.5</t>s</think><answer>A</answer>",
        "A", (_ev("y", 0.5, (2, 2, 4, 4)),), D({"missing_think_open"}), kw=MCQ,
    ),
    # No answer at all: answer None.
    "no_answer": Case("<think>hmm</think>", None, (), D({"missing_answer"}), kw=FREE),
    # An empty answer block is no answer.
    "empty_answer": Case(
        "<think>x</think><answer>  </answer>", None, (), D({"empty_answer"}), kw=FREE
    ),
    # Several answers: the FIRST is used (as the released reward code's re.search).
    "several_answers": Case(
        "<think>x</think><answer>B</answer><answer>C</answer>", "B", (),
        D({"multiple_answers"}), kw=MCQ,
    ),
    # Stray spaces: `at <t>`, spaces inside the box, `< box >` tags.
    "stray_spaces": Case(
        "<think><obj>dog</obj> < box >[ 1, 2, 30, 40 ]</ box > at <t> 4.0 </t> s</think>"
        "<answer>dog</answer>",
        "dog", (_ev("dog", 4.0, (1, 2, 30, 40)),),
        D({"evidence_spacing", "tag_spacing", "box_spacing"}), kw=FREE,
    ),
    # Float boxes are kept as floats (one defect).
    "float_box": Case(
        "<think><obj>c</obj><box>[1.5,2.25,30.0,40]</box>at<t>1</t>s</think><answer>c</answer>",
        "c", (_ev("c", 1.0, (1.5, 2.25, 30.0, 40.0)),), D({"box_float"}), kw=FREE,
    ),
    # Normalized [0,1] boxes are scaled to the fed frame.
    "normalized_box": Case(
        "<think><obj>c</obj><box>[0.1,0.25,0.5,1.0]</box>at<t>1</t>s</think><answer>c</answer>",
        "c", (_ev("c", 1.0, (44.8, 112.0, 224.0, 448.0)),), D({"box_float", "box_normalized"}),
        kw=FREE,
    ),
    # x1 > x2 and y1 > y2: corners swapped back.
    "swapped_corners": Case(
        "<think><obj>c</obj><box>[30,40,1,2]</box>at<t>1</t>s</think><answer>c</answer>",
        "c", (_ev("c", 1.0, (1, 2, 30, 40)),), D({"box_swapped_corners"}), kw=FREE,
    ),
    # Box partly outside (negative and past the width): clipped.
    "box_partly_outside": Case(
        "<think><obj>c</obj><box>[-10,5,500,40]</box>at<t>1</t>s</think><answer>c</answer>",
        "c", (_ev("c", 1.0, (0, 5, 448, 40)),), D({"box_clipped"}), kw=FREE,
    ),
    # Box entirely outside: dropped, and the mention with it (no box left).
    "box_fully_outside": Case(
        "<think><obj>c</obj><box>[500,500,600,600]</box>at<t>1</t>s</think><answer>c</answer>",
        "c", (), D({"box_outside"}), kw=FREE,
    ),
    # Zero-area box: dropped; a good second box keeps the mention.
    "zero_area_box": Case(
        "<think><obj>c</obj><box>[5,5,5,9]</box><box>[1,1,2,2]</box>at<t>1</t>s</think>"
        "<answer>c</answer>",
        "c", (_ev("c", 1.0, (1, 1, 2, 2)),), D({"box_empty"}), kw=FREE,
    ),
    # Three numbers in a box: malformed, dropped.
    "malformed_box": Case(
        "<think><obj>c</obj><box>[1,2,3]</box>at<t>1</t>s</think><answer>c</answer>",
        "c", (), D({"box_malformed"}), kw=FREE,
    ),
    # Overflowing numbers (inf after float()) are malformed, not a crash.
    "inf_box": Case(
        "<think><obj>c</obj><box>[1e999,2,3,4]</box>at<t>1</t>s</think><answer>c</answer>",
        "c", (), D({"box_malformed"}), kw=FREE,
    ),
    # Time just past the end (label rounding): clamped to the duration.
    "time_clamped": Case(
        "<think><obj>c</obj><box>[1,1,9,9]</box>at<t>20.4</t>s</think><answer>c</answer>",
        "c", (_ev("c", 20.0, (1, 1, 9, 9)),), D({"time_clamped"}), kw=FREE,
    ),
    # Time far past the end: the mention points at no frame and is dropped.
    "time_past_end": Case(
        "<think><obj>c</obj><box>[1,1,9,9]</box>at<t>95</t>s</think><answer>c</answer>",
        "c", (), D({"time_past_end"}), kw=FREE,
    ),
    # Negative time: set to 0.
    "time_negative": Case(
        "<think><obj>c</obj><box>[1,1,9,9]</box>at<t>-2</t>s</think><answer>c</answer>",
        "c", (_ev("c", 0.0, (1, 1, 9, 9)),), D({"time_negative"}), kw=FREE,
    ),
    # mm:ss time: read as minutes and seconds.
    "clock_time": Case(
        "<think><obj>c</obj><box>[1,1,9,9]</box>at<t>0:12.5</t>s</think><answer>c</answer>",
        "c", (_ev("c", 12.5, (1, 1, 9, 9)),), D({"time_clock_format"}), kw=FREE,
    ),
    # Non-numeric time: mention dropped.
    "time_malformed": Case(
        "<think><obj>c</obj><box>[1,1,9,9]</box>at<t>soon</t>s</think><answer>c</answer>",
        "c", (), D({"time_malformed"}), kw=FREE,
    ),
    # <obj> with a box but no time before the next <obj>: first dropped, second kept.
    "no_time": Case(
        "<think><obj>a</obj><box>[1,1,9,9]</box> then <obj>b</obj><box>[2,2,8,8]</box>at<t>1</t>s"
        "</think><answer>c</answer>",
        "c", (_ev("b", 1.0, (2, 2, 8, 8)),), D({"evidence_no_time"}), kw=FREE,
    ),
    # <obj> without a box: dropped.
    "no_box": Case(
        "<think><obj>a</obj>at<t>1</t>s</think><answer>c</answer>", "c", (),
        D({"evidence_no_box"}), kw=FREE,
    ),
    # A box with no <obj>: ignored.
    "box_without_obj": Case(
        "<think>see <box>[1,1,9,9]</box>at<t>1</t>s</think><answer>c</answer>", "c", (),
        D({"box_without_obj"}), kw=FREE,
    ),
    # Empty object name: dropped.
    "no_name": Case(
        "<think><obj> </obj><box>[1,1,9,9]</box>at<t>1</t>s</think><answer>c</answer>", "c", (),
        D({"evidence_no_name"}), kw=FREE,
    ),
    # Evidence inside the answer is not evidence (only the think section is read).
    "evidence_in_answer_ignored": Case(
        "<think>x</think><answer>the <obj>a</obj><box>[1,1,9,9]</box>at<t>1</t>s</answer>",
        "the <obj>a</obj><box>[1,1,9,9]</box>at<t>1</t>s", (), kw=FREE,
    ),
    # MCQ forms: `A.`, `(B)`, `C. text`, `Answer: D`, markdown bold.
    "mcq_dot": Case("<think>x</think><answer>A.</answer>", "A", kw=MCQ),
    "mcq_paren": Case("<think>x</think><answer>(B)</answer>", "B", kw=MCQ),
    "mcq_with_text": Case("<think>x</think><answer>C. the red car</answer>", "C", kw=MCQ),
    "mcq_answer_colon": Case("<think>x</think><answer>Answer: D</answer>", "D", kw=MCQ),
    "mcq_bold": Case("<think>x</think><answer>**B**</answer>", "B", kw=MCQ),
    # Prose with no letter: unreadable, answer None.
    "mcq_unreadable": Case(
        "<think>x</think><answer>the red car</answer>", None, (), D({"mcq_unreadable"}), kw=MCQ,
    ),
    # A letter past the given number of options: out of range, answer None.
    "mcq_out_of_range": Case(
        "<think>x</think><answer>E</answer>", None, (), D({"mcq_out_of_range"}),
        kw={**MCQ, "n_options": 4},
    ),
    # Temporal answer: span read, answer text kept.
    "temporal": Case(
        "<think>at <t>3.0</t>s it starts</think><answer>From <t>3.0</t>s to <t>7.5</t>s</answer>",
        "From <t>3.0</t>s to <t>7.5</t>s", kw=TEMP, span=(3.0, 7.5),
    ),
    # Temporal answer with swapped ends: fixed.
    "temporal_swapped": Case(
        "<think>x</think><answer>From <t>7.5</t>s to <t>3</t>s</answer>",
        "From <t>7.5</t>s to <t>3</t>s", (), D({"span_swapped"}), kw=TEMP, span=(3.0, 7.5),
    ),
    # Temporal answer past the end: clamped to [0, duration].
    "temporal_clamped": Case(
        "<think>x</think><answer>From <t>25</t>s to <t>40</t>s</answer>",
        "From <t>25</t>s to <t>40</t>s", (), D({"span_clamped"}), kw=TEMP, span=(25.0, 30.0),
    ),
    # Temporal answer without <t> tags: read from bare numbers.
    "temporal_untagged": Case(
        "<think>x</think><answer>From 2.5s to 6s</answer>", "From 2.5s to 6s", (),
        D({"span_untagged"}), kw=TEMP, span=(2.5, 6.0),
    ),
    # Temporal answer with no span: answer None (not votable).
    "temporal_unreadable": Case(
        "<think>x</think><answer>at the start</answer>", None, (), D({"span_unreadable"}),
        kw=TEMP,
    ),
    # Temporal MCQ form: the letter after `Correct Option:` is the answer, span kept.
    "temporal_mcq": Case(
        "<think>x</think><answer>From <t>1</t>s to <t>4</t>s.\nCorrect Option: (C)</answer>",
        "C", kw={**TEMP, "n_options": 4}, span=(1.0, 4.0),
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_parser_case(name: str) -> None:
    case = CASES[name]
    parsed = parse_trace(case.text, **case.kw)
    assert parsed.answer == case.answer
    assert [_flat(e) for e in parsed.evidence] == [
        pytest.approx(_flat(EvidenceItem(n, t, b))) for n, t, b in case.evidence
    ]
    assert {d.code for d in parsed.defects} == case.defects
    assert parsed.span == case.span
    assert (parsed.think is None) == case.think_none
    assert parsed.raw == case.text


def _flat(item: EvidenceItem) -> list[Any]:
    """An evidence item as a flat list, so pytest.approx can compare its floats."""
    return [item.name, item.time, *(v for box in item.boxes for v in box)]


def test_spec_trace_think_is_verbatim() -> None:
    # Guards: a well-formed trace's think text is returned exactly (no stripping).
    parsed = parse_trace(SPEC_TRACE, task=TaskType.MCQ)
    assert parsed.think == " ... <obj>man</obj><box>[249,60,395,252]</box>at<t>9.0</t>s ... "
    assert parsed.votable


def test_no_fed_size_only_clips_negatives() -> None:
    # Guards: without a frame size the parser cannot clip the far side, only negatives.
    parsed = parse_trace(
        "<think><obj>a</obj><box>[-5,2,9000,9]</box>at<t>1</t>s</think><answer>x</answer>"
    )
    assert parsed.evidence[0].boxes == ((0.0, 2.0, 9000.0, 9.0),)


MCQ_LETTERS = [
    ("A", None, "A"),            # bare letter
    ("a", None, "A"),            # lowercase bare letter
    ("A.", None, "A"),           # letter with a period (accepted by the reward code)
    ("(A)", None, "A"),          # parenthesised (accepted by the reward code)
    ("[B]", None, "B"),          # bracketed ("[ONLY THE LETTER]" taken literally)
    ("C. a red car", None, "C"),  # letter then the option text
    ("D) blue", None, "D"),      # letter with a closing parenthesis
    ("Answer: B", None, "B"),    # a keyword before the letter
    ("The correct option is (C).", None, "C"),  # prose with a keyword
    ("E", 4, None),              # past n_options
    ("D", 4, "D"),               # last valid option
    ("A cat sits", None, None),  # an English article is not an option letter
    ("All of them", None, None),  # neither is a capitalised word
    ("", None, None),            # empty
]


@pytest.mark.parametrize(("text", "n", "expected"), MCQ_LETTERS)
def test_normalize_mcq_letter(text: str, n: int | None, expected: str | None) -> None:
    assert normalize_mcq_letter(text, n) == expected


@pytest.mark.parametrize(
    ("fed_size", "duration"),
    [
        ((0, 100), 100.0),        # a zero-width frame size is ignored, not divided by
        ((100, 100), float("nan")),  # a NaN duration is ignored, times are not clamped
        ((100, 100), -1.0),       # a negative duration is ignored
    ],
)
def test_bad_context_is_ignored_not_raised(fed_size: tuple[int, int], duration: float) -> None:
    text = "<think><obj>a</obj><box>[0.1,0.1,0.5,0.5]</box>at<t>50</t>s</think><answer>x</answer>"
    parsed = parse_trace(text, fed_size=fed_size, duration=duration)
    assert parsed.answer == "x"
    assert parsed.evidence[0].time == 50.0
