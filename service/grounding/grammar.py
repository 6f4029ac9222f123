"""The grounded-trace output grammar of SPEC section 3, in one place.

Writers (training's SFT targets, test fixtures) use the `format_*` functions; the
parser reads with the regexes below. Both sides live here so they cannot drift.

Canonical forms (what the writers produce, byte for byte):

    <think>{think}</think>\\n<answer>{answer}</answer>
    <obj>{name}</obj><box>[x1,y1,x2,y2]</box>...<box>[..]</box>at<t>{time:.1f}</t>s
    From <t>{start:.1f}</t>s to <t>{end:.1f}</t>s

Boxes are written as integer pixels of the fed frame (rounded half to even, as
Python's `round`), no spaces. Times carry one decimal, like the frame labels.

Reading regexes are lenient on purpose (model output is untrusted): tag names are
case-insensitive and may contain stray whitespace (`< box >`, `</ t>`). They contain
no nested unbounded quantifiers, so matching is linear-ish in the input length.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from service.grounding.types import Box

# ---- writing ------------------------------------------------------------------------


def format_box(box: Box) -> str:
    """`[x1,y1,x2,y2]` in integer pixels."""
    return "[" + ",".join(str(round(v)) for v in box) + "]"


def format_time(seconds: float) -> str:
    """Seconds with one decimal, as in the frame labels (`9.0`)."""
    return f"{seconds:.1f}"


def format_evidence(name: str, boxes: Sequence[Box], time: float) -> str:
    """One evidence mention, e.g. `<obj>man</obj><box>[249,60,395,252]</box>at<t>9.0</t>s`."""
    box_tags = "".join(f"<box>{format_box(b)}</box>" for b in boxes)
    return f"<obj>{name}</obj>{box_tags}at<t>{format_time(time)}</t>s"


def format_trace(think: str, answer: str) -> str:
    """The SFT target layout: `<think>…</think>\\n<answer>…</answer>`."""
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


def format_temporal_answer(start: float, end: float) -> str:
    """The temporal-grounding answer: `From <t>a</t>s to <t>b</t>s`."""
    return f"From <t>{format_time(start)}</t>s to <t>{format_time(end)}</t>s"


def format_temporal_mcq_answer(start: float, end: float, letter: str) -> str:
    """The temporal MCQ answer (SPEC section 2): span, newline, `Correct Option: X`."""
    return f"{format_temporal_answer(start, end)}.\nCorrect Option: {letter}"


# ---- reading ------------------------------------------------------------------------

_FLAGS = re.IGNORECASE


def _open(tag: str) -> str:
    return rf"<[ \t]*{tag}[ \t]*>"


def _close(tag: str) -> str:
    return rf"<[ \t]*/[ \t]*{tag}[ \t]*>"


THINK_OPEN = re.compile(_open("think"), _FLAGS)
THINK_CLOSE = re.compile(_close("think"), _FLAGS)
ANSWER_OPEN = re.compile(_open("answer"), _FLAGS)
ANSWER_CLOSE = re.compile(_close("answer"), _FLAGS)

NUMBER = re.compile(r"[-+]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][-+]?[0-9]{1,3})?")
"""A decimal number as the model may write it: `9`, `9.`, `9.0`, `.5`, `-3`, `1e2`.

ASCII digits only, so `float()` of a match never raises (it may be inf: callers check).
"""

EVIDENCE_TAG = re.compile(
    rf"(?P<obj>{_open('obj')}(?P<name>[^<]*){_close('obj')})"
    rf"|(?P<box>{_open('box')}(?P<coords>[^<]*){_close('box')})"
    rf"|(?P<t>{_open('t')}(?P<time>[^<]*){_close('t')})",
    _FLAGS,
)
"""One `<obj>`, `<box>` or `<t>` tag with its content (content never contains `<`)."""

TAG_CANONICAL = {"obj": ("<obj>", "</obj>"), "box": ("<box>", "</box>"), "t": ("<t>", "</t>")}

BOX_CANONICAL = re.compile(r"\[-?[0-9]+,-?[0-9]+,-?[0-9]+,-?[0-9]+\]")
"""A box written exactly as `format_box` writes it."""

BETWEEN_BOXES = re.compile(r"[\s,;]*")
"""What may sit between `</obj>` and `<box>`, or between two boxes (canonical: nothing)."""

BEFORE_TIME = re.compile(r"[\s,]*(?:at\s*)?", _FLAGS)
"""What may sit between the last `</box>` and `<t>` (canonical: exactly `at`)."""

TEMPORAL_SPAN = re.compile(
    rf"{_open('t')}\s*(?P<a>{NUMBER.pattern})\s*(?:s\s*)?{_close('t')}\s*(?:s\s*)?"
    rf"(?:to|until|and|-|–)\s*"
    rf"{_open('t')}\s*(?P<b>{NUMBER.pattern})\s*(?:s\s*)?{_close('t')}",
    _FLAGS,
)
"""`<t>a</t>s to <t>b</t>s`, with lenient spacing and separators."""

UNTAGGED_SPAN = re.compile(
    rf"(?<![0-9.])(?P<a>{NUMBER.pattern})\s*(?:(?:seconds?|secs?|s)\s*)?(?:to|until|-|–)\s*"
    rf"(?P<b>{NUMBER.pattern})",
    _FLAGS,
)
"""A span written without `<t>` tags: `From 3.2s to 5.0s`, `3.2 - 5.0 seconds`.

The look-behind makes a digit run one candidate start, not one per digit (a run of
n digits would otherwise cost O(n^2)). All patterns here avoid two adjacent quantifiers
that can match the same characters (`\\s*s?\\s*`), which would backtrack quadratically
on long whitespace runs.
"""

CORRECT_OPTION = re.compile(r"correct\s*option\s*[:：]?", _FLAGS)
"""The temporal-MCQ marker before the option letter."""
