"""Grammar writers: exact canonical text, and that the parser reads it back unchanged."""

from __future__ import annotations

import pytest

from service.grounding import grammar
from service.grounding.parser import parse_trace
from service.grounding.types import TaskType

WRITERS = [
    # SPEC section 3's mention, byte for byte.
    (grammar.format_evidence("man", [(249, 60, 395, 252)], 9.0),
     "<obj>man</obj><box>[249,60,395,252]</box>at<t>9.0</t>s"),
    # Float boxes are written as integer pixels; several boxes follow one <obj>.
    (grammar.format_evidence("cup", [(1.4, 2.6, 3.5, 4.5), (5, 6, 7, 8)], 2.25),
     "<obj>cup</obj><box>[1,3,4,4]</box><box>[5,6,7,8]</box>at<t>2.2</t>s"),
    # The SFT target layout: newline between think and answer.
    (grammar.format_trace("why", "C"), "<think>why</think>\n<answer>C</answer>"),
    # The temporal answer of SPEC section 2.
    (grammar.format_temporal_answer(3, 7.25), "From <t>3.0</t>s to <t>7.2</t>s"),
    # The temporal MCQ answer (period, newline, Correct Option) as the released data has it.
    (grammar.format_temporal_mcq_answer(1, 4, "B"),
     "From <t>1.0</t>s to <t>4.0</t>s.\nCorrect Option: B"),
]


@pytest.mark.parametrize(("written", "expected"), WRITERS)
def test_writers(written: str, expected: str) -> None:
    assert written == expected


def test_temporal_mcq_answer_reads_back() -> None:
    text = grammar.format_trace("x", grammar.format_temporal_mcq_answer(1.5, 4.0, "B"))
    parsed = parse_trace(text, task=TaskType.TEMPORAL, duration=10.0, n_options=4)
    assert (parsed.answer, parsed.span, parsed.defects) == ("B", (1.5, 4.0), ())


def test_temporal_answer_reads_back() -> None:
    text = grammar.format_trace("x", grammar.format_temporal_answer(2.0, 3.5))
    parsed = parse_trace(text, task=TaskType.TEMPORAL, duration=10.0)
    assert (parsed.span, parsed.defects) == ((2.0, 3.5), ())


SPANS = [
    ("<t>1</t>s to <t>2</t>s", ("1", "2")),          # canonical
    ("< t >1 s</t> s - <T>2</t>", ("1", "2")),        # stray spaces, capitals, a dash
    ("<t>1</t>s and <t>2.5</t>s", ("1", "2.5")),      # "and" as separator
    ("<t>1</t>s after <t>2</t>s", None),              # not a span separator
]


@pytest.mark.parametrize(("text", "expected"), SPANS)
def test_temporal_span_regex(text: str, expected: tuple[str, str] | None) -> None:
    m = grammar.TEMPORAL_SPAN.search(text)
    assert (m["a"], m["b"]) == expected if m else expected is None
