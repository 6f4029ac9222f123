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

import math
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

CLOCK = re.compile(
    r"(?<![0-9.:])(?:(?P<h>[0-9]{1,2}):(?P<hm>[0-5]?[0-9])|(?P<m>[0-9]{1,3})):"
    r"(?P<s>[0-5][0-9](?:\.[0-9]{1,6})?)(?![0-9])"
)
"""A clock time: `m:ss`, `mm:ss`, `h:mm:ss`, with decimal seconds (`1:02.5`).

Seconds always have two digits (`0:04`, not `0:4`), which keeps `4:5` (a ratio, a
verse) from being read as a time. The look-behind makes `1:02:03` one candidate."""

TIME_VALUE = rf"(?:{CLOCK.pattern}|{NUMBER.pattern})"
"""A time as a span end may be written: a clock time or a plain number of seconds."""

_SECONDS = r"(?:(?:seconds?|secs?|s)\b\s*)?"
_SEP = r"(?:to|until|till|through|-|–|—|~)"


def _end(name: str) -> str:
    """A span end with its own group names (the clock's groups get a prefix)."""
    clock = CLOCK.pattern.replace("?P<", f"?P<{name}_")
    return rf"(?P<{name}>{clock}|{NUMBER.pattern})"


TEMPORAL_SPAN = re.compile(
    rf"{_open('t')}\s*{_end('a')}\s*(?:s\s*)?{_close('t')}\s*(?:s\s*)?"
    rf"(?:{_SEP}|and)\s*"
    rf"{_open('t')}\s*{_end('b')}\s*(?:s\s*)?{_close('t')}",
    _FLAGS,
)
"""`<t>a</t>s to <t>b</t>s`, with lenient spacing and separators (clock times too)."""

UNTAGGED_SPAN = re.compile(
    rf"(?<![0-9.:])(?:{_open('t')}\s*)?{_end('a')}\s*(?:{_close('t')}\s*)?{_SECONDS}"
    rf"{_SEP}\s*(?:{_open('t')}\s*)?{_end('b')}",
    _FLAGS,
)
"""A span written without (or with half of) the `<t>` tags: `From 3.2s to 5.0s`,
`3.2 - 5.0 seconds`, `From 0:04 to 0:09`.

The look-behind makes a digit run one candidate start, not one per digit (a run of
n digits would otherwise cost O(n^2)). All patterns here avoid two adjacent quantifiers
that can match the same characters (`\\s*s?\\s*`), which would backtrack quadratically
on long whitespace runs.
"""

BRACKETED_SPAN = re.compile(
    rf"[\[(]\s*{_end('a')}\s*{_SECONDS},\s*{_end('b')}\s*{_SECONDS}[\])]", _FLAGS
)
"""A pair in brackets: `[4.0, 9.5]`, `(0:04, 0:09)`."""

BETWEEN_SPAN = re.compile(
    rf"\bbetween\s+{_end('a')}\s*{_SECONDS}and\s+{_end('b')}", _FLAGS
)
"""`between 4 and 9.5 seconds`."""


def span_ends(m: re.Match[str]) -> tuple[float, float]:
    """The two ends, in seconds, of a `TEMPORAL_SPAN` / `UNTAGGED_SPAN` /
    `BRACKETED_SPAN` / `BETWEEN_SPAN` match (clock ends converted). May be inf."""
    a, b = clock_seconds(m, "a_"), clock_seconds(m, "b_")
    return (float(m["a"]) if a is None else a, float(m["b"]) if b is None else b)


def clock_seconds(m: re.Match[str], prefix: str = "") -> float | None:
    """Seconds of a `CLOCK` match (its groups under `prefix`), None when it is none."""
    g = m.groupdict()
    sec = g.get(f"{prefix}s")
    if sec is None:
        return None
    hours, minutes = g.get(f"{prefix}h"), g.get(f"{prefix}hm") or g.get(f"{prefix}m")
    return int(hours or 0) * 3600 + int(minutes or 0) * 60 + float(sec)


CORRECT_OPTION = re.compile(r"correct\s*option\s*[:：]?", _FLAGS)
"""The temporal-MCQ marker before the option letter."""


TAG_CLOCK = re.compile(
    r"\s*(?:([0-9]{1,2}):)?([0-9]{1,3}):([0-5]?[0-9](?:\.[0-9]{1,6})?)\s*s?\s*")
"""A `<t>` content written as a clock: `m:ss`, `h:mm:ss`, optional fraction and `s`."""


def tag_time(content: str) -> tuple[float | None, bool]:
    """A `<t>` content as seconds, and whether it was written as a clock: `2.5`, `2.5 s`,
    `0:02`, `1:02:03.5`. (None, False) when it holds not exactly one finite number. The
    one reader of cited times, for the parser and the rewards alike."""
    clock = TAG_CLOCK.fullmatch(content)
    if clock:
        return int(clock[1] or 0) * 3600 + int(clock[2]) * 60 + float(clock[3]), True
    numbers = NUMBER.findall(content)
    if len(numbers) != 1:
        return None, False
    value = float(numbers[0])
    return (value if math.isfinite(value) else None), False
