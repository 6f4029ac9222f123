"""The release's own readings of model text, reproduced exactly for `released` modes.

Owns: how the public Open-o3 Video release (`marinero4972/Open-o3-Video`) reads a
trace in its evaluation scripts, rule for rule, so a `released` mode can equal it:

- `answer_text`: `re.search(r"<answer>(.*?)</answer>", text, re.DOTALL)`, stripped,
  searched in the WHOLE text (an `<answer>` inside the think counts), first match.
- `think_text`: `re.search(r"<think>(.*?)</think>", ...)`, stripped; an unclosed think
  is None (the release then gives the trace weight 0 but keeps its vote).
- `mcq_letter`: the stripped answer must be exactly one of the allowed letters (no
  `(A)`, `A.` or lower case); anything else is "NA" (None here).
- `evidence`: `eval/tts.py parse_patterns`: `<obj>(.*?)</obj><box>(\\[.*?\\])</box>
  at<t>(.*?)</t>s` (DOTALL, lazy, no spaces allowed), time `round(float(t), 2)`, box
  `parse_box` (brackets and spaces removed, four floats, x2 >= x1 and y2 >= y1, else
  the mention is dropped). Several boxes in one mention make the box text unreadable,
  so such mentions are dropped, as in the release.
- `frame_index` / `crop_rect`: `read_frame_at_time` (`frames[round(t * fps)]` with
  Python's negative indexing; past the end -> no frame) and `crop_box` (coordinates
  truncated by `int`, x1/y1 clamped at 0, x2/y2 at the frame size, then numpy slice
  semantics: a negative end counts from the far side, an empty slice -> no crop).
- `crops`: `extract_and_crop`: more than 10 crops -> none at all.
- `scorer_value`: `run_images_scorer`: exactly "0", "1" or "2" (no stripping), else
  -1; `relevance_weight`: 2 -> 1.0, 1 -> 0.6, anything else -> 0.2.
- `timestamps`: `eval/test/test_vstar_multi_images.py extract_timestamps` (V-STAR
  "when" answers): the answer block if any, every `m:ss` replaced by `<t>{s}</t>s`,
  then exactly two `\\b\\d+(\\.\\d+)?\\b` numbers or nothing (`1:02.5` reads [62, 5]).

Invariants: pure; never raises on model text. Where the release itself would crash
(a time `nan`/`inf`, a frame index below `-len(frames)`), the mention is dropped here
(documented in docs/VOTING.md). Golden tables made by running the release's own
functions (scripts/golden/) pin every rule (tests/unit/golden/).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

from service.grounding.types import Size

MAX_CROPS = 10
"""`extract_and_crop`: more crops than this and the trace counts as having none."""

RELEVANCE = {2: 1.0, 1: 0.6, 0: 0.2}
OTHER_RELEVANCE = 0.2
SCORER_REPLIES = ("0", "1", "2")

_ANSWER = re.compile(r"<answer>(.*?)</answer>", re.DOTALL)
_THINK = re.compile(r"<think>(.*?)</think>", re.DOTALL)
_MENTION = re.compile(r"<obj>(.*?)</obj><box>(\[.*?\])</box>at<t>(.*?)</t>s", re.DOTALL)
_CLOCK = re.compile(r"(\d+:\d+)")
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")


@dataclass(frozen=True)
class Mention:
    """One `parse_patterns` entry: object text, box (floats) and time (2 decimals)."""

    obj: str
    box: tuple[float, float, float, float]
    time: float


def answer_text(text: str) -> str | None:
    m = _ANSWER.search(text)
    return m.group(1).strip() if m else None


def think_text(text: str) -> str | None:
    m = _THINK.search(text)
    return m.group(1).strip() if m else None


def mcq_letter(text: str, letters: tuple[str, ...]) -> str | None:
    """The release's think-mode MCQ reading; None is its "NA"."""
    ans = answer_text(text)
    return ans if ans is not None and ans in letters else None


def letters_for(n_options: int | None) -> tuple[str, ...]:
    """The letters the release's vote table holds: A-D (VideoMME, WorldSense) unless
    the number of options says otherwise (VideoMMMU: 10, A-J)."""
    n = n_options if n_options else 4
    return tuple(chr(ord("A") + i) for i in range(min(max(n, 1), 26)))


def py_float(raw: str) -> float | None:
    """Python's `float(raw)` (what the release calls), or None where it raises.

    Finite only: the release crashes on `inf`/`nan` times; here they are dropped."""
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def parse_box(raw: str) -> tuple[float, float, float, float] | None:
    clean = raw.strip().replace(" ", "").replace("[", "").replace("]", "")
    parts = clean.split(",")
    vals = [py_float(p) for p in parts]
    if len(vals) != 4 or any(v is None for v in vals):
        return None
    x1, y1, x2, y2 = (float(v or 0.0) for v in vals)
    return (x1, y1, x2, y2) if x2 >= x1 and y2 >= y1 else None


def evidence(think: str) -> list[Mention]:
    out: list[Mention] = []
    for m in _MENTION.finditer(think):
        t = py_float(m.group(3).strip())
        box = parse_box(m.group(2))
        if t is not None and box is not None:
            out.append(Mention(m.group(1).strip(), box, round(t, 2)))
    return out


def frame_index(t_sec: float, fps: float, n_frames: int) -> int | None:
    """`read_frame_at_time`: the index into the fed frames, or None (no frame)."""
    product = t_sec * fps
    if not math.isfinite(product):
        return None
    i = round(product)
    if i >= n_frames or i < -n_frames:  # the release: None / IndexError (dropped here)
        return None
    return i % n_frames if i < 0 else i


def crop_rect(
    box: tuple[float, float, float, float], size: Size
) -> tuple[int, int, int, int] | None:
    """`crop_box`: the (x1, y1, x2, y2) pixel rectangle cut, or None when it is empty."""
    w, h = size
    x1, y1, x2, y2 = (int(v) for v in box)
    x1, y1 = max(0, x1), max(0, y1)
    x2, y2 = min(w, x2), min(h, y2)
    xs, ys = range(w)[x1:x2], range(h)[y1:y2]
    if len(xs) == 0 or len(ys) == 0:
        return None
    return (xs.start, ys.start, xs.stop, ys.stop)


@dataclass(frozen=True)
class Crop:
    frame: int
    rect: tuple[int, int, int, int]


def crops(mentions: list[Mention], fps: float, n_frames: int, size: Size) -> list[Crop]:
    """`extract_and_crop`: one crop per usable mention; more than 10 -> none."""
    out: list[Crop] = []
    for m in mentions:
        i = frame_index(m.time, fps, n_frames)
        rect = crop_rect(m.box, size) if i is not None else None
        if i is not None and rect is not None:
            out.append(Crop(i, rect))
    return [] if len(out) > MAX_CROPS else out


def scorer_value(reply: str) -> int:
    return int(reply) if reply in SCORER_REPLIES else -1


def relevance_weight(value: int) -> float:
    return RELEVANCE.get(value, OTHER_RELEVANCE)


def timestamps(text: str) -> list[float]:
    """`extract_timestamps`: [start, end] as the release reads a "when" answer, or []."""
    result = text
    m = _ANSWER.search(result)
    if m:
        result = m.group(1).strip()
    for ts in _CLOCK.findall(result):
        minutes, seconds = (int(p) for p in ts.split(":"))
        result = result.replace(ts, f"<t>{minutes * 60 + seconds}</t>s")
    numbers = _NUMBER.findall(result)
    return [float(numbers[0]), float(numbers[1])] if len(numbers) == 2 else []
