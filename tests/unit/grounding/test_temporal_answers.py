"""Temporal answers: every way a model writes a span is read, each fallback says so
with a defect code, the parser never raises, and the release's own reading
(`extract_timestamps`, golden table) is reproduced exactly by `released.timestamps`.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.grounding import released as rel
from service.grounding.parser import parse_trace
from service.grounding.types import TaskType

T = TaskType.TEMPORAL
GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "release_timestamps.jsonl"
SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def wrap(answer: str) -> str:
    return f"<think>the man waves at <t>2.0</t>s</think>\n<answer>{answer}</answer>"


@pytest.mark.parametrize(("text", "span", "codes"), [
    # canonical: no fallback
    (wrap("From <t>4.0</t>s to <t>9.5</t>s"), (4.0, 9.5), set()),
    # clock times, untagged and tagged: `0:04` is 4 s, not [0, 4]
    (wrap("From 0:04 to 0:09"), (4.0, 9.0), {"span_untagged", "span_clock"}),
    (wrap("From <t>0:04</t>s to <t>0:09</t>s"), (4.0, 9.0), {"span_clock"}),
    # decimal seconds on a clock: 1:02.5 is 62.5 s, not [1, 2.5]
    (wrap("1:02.5 - 1:10"), (62.5, 70.0), {"span_untagged", "span_clock"}),
    (wrap("From 1:00:05 to 1:00:09"), (3605.0, 3609.0), {"span_untagged", "span_clock"}),
    # bracketed pairs
    (wrap("[4.0, 9.5]"), (4.0, 9.5), {"span_bracketed"}),
    (wrap("(4s, 9.5s)"), (4.0, 9.5), {"span_bracketed"}),
    (wrap("[0:04, 0:09]"), (4.0, 9.0), {"span_bracketed", "span_clock"}),
    # between X and Y
    (wrap("between 4 and 9.5 seconds"), (4.0, 9.5), {"span_between"}),
    # the earliest fallback wins: the bracket comes first here
    (wrap("[1, 2], or maybe from 3 to 4"), (1.0, 2.0), {"span_bracketed"}),
    # outside the answer: no answer block, the span after the think
    ("<think>x</think>\nFrom <t>4</t>s to <t>9</t>s", (4.0, 9.0),
     {"missing_answer", "span_outside_answer"}),
    # outside the answer: the answer has none, text after it does
    ("<think>x</think><answer>soon</answer> roughly 3 to 7", (3.0, 7.0),
     {"span_unreadable", "span_untagged", "span_outside_answer"}),
    # the think is never read as the answer
    ("<think>from <t>1</t>s to <t>2</t>s</think><answer>soon</answer>", None,
     {"span_unreadable"}),
    # a ratio is not a clock (seconds need two digits)
    (wrap("4:5"), None, {"span_unreadable"}),
])
def test_span_forms(text: str, span: tuple[float, float] | None, codes: set[str]) -> None:
    p = parse_trace(text, task=T, duration=4000.0)
    assert p.span == span
    got = {d.code for d in p.defects}
    assert codes <= got, got
    fallbacks = {"span_untagged", "span_bracketed", "span_between", "span_clock",
                 "span_outside_answer"}
    assert got & fallbacks == codes & fallbacks  # no fallback fired that was not named


def test_think_times_read_clock_forms() -> None:
    text = ("<think><obj>a</obj><box>[1,1,9,9]</box>at<t>1:02.5</t>s "
            "<obj>b</obj><box>[1,1,9,9]</box>at<t>1:00:05</t>s</think><answer>x</answer>")
    p = parse_trace(text, fed_size=(20, 20), duration=4000.0)
    assert [e.time for e in p.evidence] == [62.5, 3605.0]
    assert "time_clock_format" in {d.code for d in p.defects}


# ---- properties ----------------------------------------------------------------------

def clock(seconds: int) -> str:
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


FORMS = [
    lambda a, b: f"From <t>{a}</t>s to <t>{b}</t>s",
    lambda a, b: f"From {a}s to {b}s",
    lambda a, b: f"{a} - {b} seconds",
    lambda a, b: f"[{a}, {b}]",
    lambda a, b: f"({a}, {b})",
    lambda a, b: f"between {a} and {b}",
]


@SETTINGS
@given(a=st.integers(0, 20000), d=st.integers(1, 5000), form=st.integers(0, len(FORMS) - 1),
       as_clock=st.booleans(), tags=st.booleans())
def test_every_form_reads_back(a: int, d: int, form: int, as_clock: bool, tags: bool) -> None:
    b = a + d
    ta, tb = (clock(a), clock(b)) if as_clock else (str(a), str(b))
    answer = FORMS[form](ta, tb)
    text = wrap(answer) if tags else f"<think>x</think>\n{answer}"
    p = parse_trace(text, task=T, duration=30000.0)
    assert p.span == (float(a), float(b)), (text, p.defects)
    assert p.answer is not None


FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "<t>", "</t>", "s", " to ",
             "between ", " and ", "[", "]", "(", ")", ",", ":", "0:04", "1:02.5", "1:00:05",
             "-", "9.5", "1e999", "nan", " ", "\n", "From ", "Correct Option: B", "99:99"]
soup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=4)), max_size=50).map(
    "".join)


@SETTINGS
@given(text=st.one_of(soup, st.text()), duration=st.one_of(st.none(), st.floats(0, 1e6)),
       n=st.one_of(st.none(), st.integers(0, 26)))
def test_temporal_parse_never_raises_and_keeps_its_invariants(
    text: str, duration: float | None, n: int | None
) -> None:
    p = parse_trace(text, task=T, duration=duration, n_options=n)
    if p.span is not None:
        assert 0 <= p.span[0] <= p.span[1]
        assert duration is None or p.span[1] <= duration
    assert (p.span is None) <= (p.answer is None)  # a temporal answer always has a span
    rel.timestamps(text)  # the release's reading never raises here either


# ---- the release's own extraction (golden) ---------------------------------------------

# Classes of generated answers where our default reading differs from the release's
# `extract_timestamps`, and why. Every differing row must be in one of them.
DEFAULT_DIFFERS = {
    "clock_decimal": "`0:20.5`: ours 20.5 s; the release replaces `0:20` and then finds "
                     "three numbers -> no span",
    "clock_hours": "`1:00:02`: ours 3602 s; the release's `m:ss` replacement leaves "
                   "three numbers -> no span",
    "untagged": "`71.6s`: the release's \\b\\d+(\\.\\d+)?\\b cannot end before `s`, so it "
                "reads 71 (the integer part); ours 71.6",
    "three_numbers": "ours reads the first span; the release needs exactly two numbers",
    "swapped": "ours swaps start > end back; the release keeps the order",
    "repeated_clock": "ours reads the first span; the release finds three numbers",
}


def golden() -> list[dict[str, object]]:
    with GOLDEN.open() as f:
        return [json.loads(line) for line in f]


def test_released_timestamps_equal_the_release_on_every_row() -> None:
    rows = golden()
    assert len(rows) >= 400
    bad = [(r["id"], rel.timestamps(str(r["text"])), r["release"]) for r in rows
           if rel.timestamps(str(r["text"])) != r["release"]]
    assert not bad, bad[:5]


def test_default_reading_differs_only_in_documented_classes() -> None:
    differs: dict[str, int] = {}
    for r in golden():
        p = parse_trace(str(r["text"]), task=T)
        ours = list(p.span) if p.span else []
        if ours != r["release"]:
            cls = str(r["class"])
            assert cls in DEFAULT_DIFFERS, (r["id"], r["text"], ours, r["release"])
            differs[cls] = differs.get(cls, 0) + 1
    # the release loses clock decimals and hours entirely; ours reads them
    assert differs.get("clock_decimal", 0) > 0 and differs.get("clock_hours", 0) > 0
