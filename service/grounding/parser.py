"""The ONE trace parser (SPEC section 3): model text -> `ParsedTrace`, never raising.

Model output is untrusted. `parse_trace` accepts any `str` and returns what it could
read plus a `Defect` for every fix or drop. It cannot raise by construction: it only
slices strings, matches the linear-time regexes of `grammar`, calls `float()` on
strings those regexes matched (ASCII numbers: cannot raise; inf/nan are checked), and
does float arithmetic with no division by model-controlled values. There is no broad
`except`. A hypothesis property test runs it on arbitrary and mutated text.

Reading rules (and the choices made where the model's output is ambiguous):

- think: the text between the first `<think>` and the next `</think>`, kept verbatim.
  No `</think>`: it runs to the first `<answer>` (or the end). No `<think>` but a
  `</think>`: everything before it. Neither: `think` is None (the trace is then not
  votable, SPEC 4.2).
- answer: searched after the think section. With several `<answer>` blocks the FIRST
  is used, as the released reward code does (`re.search`), so what RL rewarded is what
  we read. No `</answer>` (e.g. cut by max_tokens): up to the next `<answer>` or the
  end. Stripped of surrounding whitespace; empty -> None.
- answer by task:
  free-form: the stripped text. mcq: the option letter (`normalize_mcq_letter`),
  None when unreadable or out of range. temporal: `span` from
  `From <t>a</t>s to <t>b</t>s`; failing that, the EARLIEST of the fallbacks
  untagged `3.2s to 5.0s` / `3.2 - 5.0`, bracketed `[4.0, 9.5]`, `between 4 and 9.5`;
  either end may be a clock time (`0:04`, `1:02.5`, `1:00:05`). Swapped ends swapped
  back, clamped to [0, duration]. No span in the answer block (or no answer block):
  the text after the think is searched the same way (`span_outside_answer`); the
  think itself never is (its times are reasoning, not the answer). `answer` is the
  answer text (the matched span text when read outside the answer), or the option
  letter after `Correct Option:` for the temporal-MCQ form (n_options given or the
  marker present). No readable span anywhere -> answer None.
- evidence (read from the think section only): `<obj>name</obj>` then one or more
  `<box>[x1,y1,x2,y2]</box>` then `at<t>sec</t>s`; whitespace, commas or semicolons
  between the tags are tolerated. One `<obj>` with several boxes is ONE item. Boxes
  are fed-frame pixels: corners swapped back into order, clipped to `fed_size` when it
  is given (else negatives clipped to 0), dropped when nothing is left. A `<t>` with
  no open `<obj>` is a plain time mention (temporal reasoning), not a defect.
- times: negative -> 0; past `duration` by at most `TIME_SLACK_S` -> clamped to it
  (rounding of the last frame's label); further past -> the mention is dropped (a time
  that is not in the video points at no frame). `mm:ss` / `h:mm:ss` (decimal seconds
  allowed) are read as clock times.

Defect codes (stable; `detail` is free text for humans):

    missing_think        no <think> and no </think>: think is None
    missing_think_open   </think> without <think>: think = text before it
    missing_think_close  <think> without </think>: think runs to <answer> or the end
    multiple_think       more than one <think> block; the first is used
    missing_answer       no <answer> block: answer is None
    missing_answer_open  </answer> without <answer>: answer = text before it
    missing_answer_close <answer> without </answer>: runs to next <answer> or the end
    multiple_answers     several <answer> blocks; the first is used
    empty_answer         the answer block is empty
    tag_spacing          a tag written with stray spaces or capitals (`< box >`, `<T>`)
    evidence_spacing     text other than the canonical between evidence tags (`at <t>`)
    evidence_no_name     <obj></obj> with an empty name: mention dropped
    evidence_no_box      <obj> followed by no usable <box>: mention dropped
    evidence_no_time     <obj><box> not followed by a <t>: mention dropped
    box_without_obj      a <box> with no <obj> before it: box ignored
    box_malformed        a box without exactly four finite numbers: box dropped
    box_float            a box with non-integer numbers (kept as floats)
    box_spacing          a box with spaces or without brackets (read anyway)
    box_normalized       all four numbers in [0, 1] with decimals: scaled by fed_size
    box_swapped_corners  x1 > x2 or y1 > y2: swapped
    box_clipped          part of the box outside the frame: clipped
    box_outside          nothing of the box inside the frame: box dropped
    box_empty            zero-area box: box dropped
    time_malformed       a <t> without exactly one finite number: mention dropped
    time_clock_format    a `mm:ss` / `h:mm:ss` time, converted to seconds
    time_negative        a negative time: set to 0
    time_clamped         a time just past the end: set to the duration
    time_past_end        a time further past the end: mention dropped
    span_untagged        a temporal answer without <t> tags, read from bare numbers
    span_bracketed       a temporal answer written as a pair `[a, b]` / `(a, b)`
    span_between         a temporal answer written `between a and b`
    span_clock           a span end written as a clock time (`0:04`), converted
    span_outside_answer  no span in the answer block; read from the text after the think
    span_swapped         a temporal answer with start > end: swapped
    span_clamped         a temporal answer outside [0, duration]: clamped
    span_unreadable      no span in a temporal answer: answer is None
    mcq_unreadable       no option letter in a multiple-choice answer: answer is None
    mcq_out_of_range     a letter past the n_options given: answer is None
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

from service.grounding import grammar as g
from service.grounding.geometry import box_area, clip_box, denormalize_box
from service.grounding.types import Box, Defect, EvidenceItem, ParsedTrace, Size, TaskType

TIME_SLACK_S = 1.0
"""How far past the end a cited time may be and still be clamped rather than dropped."""

_FALLBACK_SPANS = (
    (g.UNTAGGED_SPAN, "span_untagged"),
    (g.BRACKETED_SPAN, "span_bracketed"),
    (g.BETWEEN_SPAN, "span_between"),
)
_MCQ_LEADING = re.compile(r"[(\[]?([A-Z])(?:[)\]]|[.:：]|$)")
_MCQ_KEYWORD = re.compile(
    r"(?i:answer|option|choice)(?:\s+is)?\s*(?:[:：]\s*)?[(\[]?([A-Z])(?![A-Za-z])"
)


def parse_trace(
    text: str,
    *,
    task: TaskType = TaskType.FREE_FORM,
    fed_size: Size | None = None,
    duration: float | None = None,
    n_options: int | None = None,
) -> ParsedTrace:
    """Read one completion. Never raises; see the module docstring for the rules.

    A `fed_size` with a non-positive side or a negative / non-finite `duration` is
    ignored (treated as not given) rather than raised on.
    """
    size_ok = fed_size is not None and fed_size[0] > 0 and fed_size[1] > 0
    duration_ok = duration is not None and math.isfinite(duration) and duration >= 0
    r = _Reader(
        fed_size=fed_size if size_ok else None,
        duration=duration if duration_ok else None,
    )
    think, think_end = r.think(text)
    answer_text = r.answer_block(text, think_end)
    evidence = r.evidence(think) if think is not None else ()
    answer, span = r.answer_for_task(answer_text, task, n_options)
    if task is TaskType.TEMPORAL and span is None:
        answer, span = r.span_outside(text, think_end, answer_text)
    return ParsedTrace(
        raw=text,
        think=think,
        answer=answer,
        evidence=evidence,
        defects=tuple(r.defects),
        span=span,
    )


def normalize_mcq_letter(text: str, n_options: int | None = None) -> str | None:
    """The option letter in `A`, `A.`, `(A)`, `[A]`, `A. text`, `Answer: A`, `The answer
    is (C)`; None when there is none or it is past `n_options`.

    >>> normalize_mcq_letter("(B) a red car"), normalize_mcq_letter("E", n_options=4)
    ('B', None)
    """
    letter = _mcq_letter(text)
    if letter is None or not _in_range(letter, n_options):
        return None
    return letter


def _mcq_letter(text: str) -> str | None:
    cleaned = text.strip().strip("*`\"' \t\n").strip()
    if len(cleaned) == 1 and cleaned.isascii() and cleaned.isalpha():
        return cleaned.upper()
    m = _MCQ_LEADING.match(cleaned) or _MCQ_KEYWORD.search(cleaned)
    return m.group(1) if m else None


def _in_range(letter: str, n_options: int | None) -> bool:
    return n_options is None or ord(letter) - ord("A") < n_options


def _clip_negative(box: Box) -> Box | None:
    """Without a frame size only the lower bound (0) is known."""
    clipped = (max(box[0], 0.0), max(box[1], 0.0), box[2], box[3])
    return clipped if box_area(clipped) > 0 else None


def _finite(values: list[float]) -> bool:
    return all(math.isfinite(v) for v in values)


@dataclass
class _Mention:
    """An `<obj>` being read: its name and the boxes read so far."""

    name: str
    end: int
    boxes: list[Box] = field(default_factory=list)
    saw_box: bool = False


@dataclass
class _Reader:
    fed_size: Size | None
    duration: float | None
    defects: list[Defect] = field(default_factory=list)

    def add(self, code: str, detail: str = "") -> None:
        self.defects.append(Defect(code, detail))

    # ---- think / answer blocks ----------------------------------------------------------

    def think(self, text: str) -> tuple[str | None, int]:
        """(think text, index where the answer search starts)."""
        opened = g.THINK_OPEN.search(text)
        closed = g.THINK_CLOSE.search(text, opened.end() if opened else 0)
        self._check_tags("think", opened, closed)
        if opened and closed:
            if g.THINK_OPEN.search(text, closed.end()):
                self.add("multiple_think", "only the first <think> block is read")
            return text[opened.end() : closed.start()], closed.end()
        if opened:
            self.add("missing_think_close")
            nxt = g.ANSWER_OPEN.search(text, opened.end())
            end = nxt.start() if nxt else len(text)
            return text[opened.end() : end], end
        if closed:
            self.add("missing_think_open")
            return text[: closed.start()], closed.end()
        self.add("missing_think")
        return None, 0

    def answer_block(self, text: str, start: int) -> str | None:
        opens = list(g.ANSWER_OPEN.finditer(text, start))
        if not opens:
            return self._answer_without_open(text, start)
        if len(opens) > 1:
            self.add("multiple_answers", f"{len(opens)} <answer> blocks; the first is used")
        first = opens[0]
        limit = opens[1].start() if len(opens) > 1 else len(text)
        closed = g.ANSWER_CLOSE.search(text, first.end(), limit)
        self._check_tags("answer", first, closed)
        if closed is None:
            self.add("missing_answer_close")
            return self._nonempty(text[first.end() : limit])
        return self._nonempty(text[first.end() : closed.start()])

    def _answer_without_open(self, text: str, start: int) -> str | None:
        closed = g.ANSWER_CLOSE.search(text, start)
        if closed is None:
            self.add("missing_answer")
            return None
        self.add("missing_answer_open")
        return self._nonempty(text[start : closed.start()])

    def _nonempty(self, answer: str) -> str | None:
        stripped = answer.strip()
        if not stripped:
            self.add("empty_answer")
            return None
        return stripped

    def _check_tags(self, tag: str, *matches: re.Match[str] | None) -> None:
        written = [m.group() for m in matches if m is not None]
        if any(w not in (f"<{tag}>", f"</{tag}>") for w in written):
            self.add("tag_spacing", f"{tag}: {written!r}")

    # ---- answer by task -------------------------------------------------------------------

    def answer_for_task(
        self, answer: str | None, task: TaskType, n_options: int | None
    ) -> tuple[str | None, tuple[float, float] | None]:
        if answer is None:
            return None, None
        if task is TaskType.MCQ:
            return self.mcq(answer, n_options), None
        if task is TaskType.TEMPORAL:
            return self.temporal(answer, n_options)
        return answer, None

    def mcq(self, text: str, n_options: int | None) -> str | None:
        letter = _mcq_letter(text)
        if letter is None:
            self.add("mcq_unreadable", text[:80])
            return None
        if not _in_range(letter, n_options):
            self.add("mcq_out_of_range", f"{letter} with {n_options} options")
            return None
        return letter

    def temporal(
        self, text: str, n_options: int | None
    ) -> tuple[str | None, tuple[float, float] | None]:
        span = self.span(text)
        if span is None:
            return None, None
        marker = g.CORRECT_OPTION.search(text)
        if marker is None and n_options is None:
            return text, span
        letter = self.mcq(text[marker.end() :] if marker else "", n_options)
        return letter, span

    def span(self, text: str, *, quiet: bool = False) -> tuple[float, float] | None:
        """The span in `text` (see the module docstring); `quiet`: no defect when none."""
        return self._span_of(self._span_match(text), text, quiet)

    def _span_of(
        self, m: re.Match[str] | None, text: str, quiet: bool
    ) -> tuple[float, float] | None:
        values = self._span_ends(m) if m else []
        if not values or not _finite(values):
            if not quiet:
                self.add("span_unreadable", text[:80])
            return None
        start, end = values
        if start > end:
            self.add("span_swapped", f"{start} > {end}")
            start, end = end, start
        return self._clamp_span(start, end)

    def _span_match(self, text: str) -> re.Match[str] | None:
        m = g.TEMPORAL_SPAN.search(text)
        if m is not None:
            return m
        found = [(f, code) for p, code in _FALLBACK_SPANS if (f := p.search(text))]
        if not found:
            return None
        m, code = min(found, key=lambda fc: fc[0].start())
        self.add(code, m.group()[:80])
        return m

    def _span_ends(self, m: re.Match[str]) -> list[float]:
        clocks = [e for e in ("a", "b") if g.clock_seconds(m, f"{e}_") is not None]
        if clocks:
            self.add("span_clock", " / ".join(m[e] for e in clocks))
        return list(g.span_ends(m))

    def span_outside(
        self, text: str, think_end: int, answer: str | None
    ) -> tuple[str | None, tuple[float, float] | None]:
        """A temporal span written after the think but not inside the answer block."""
        rest = text[think_end:]
        if answer is not None:
            rest = rest.replace(answer, " ", 1)  # the answer block was read already
        m = self._span_match(rest)
        if m is None:
            return None, None
        span = self._span_of(m, m.group(), quiet=True)
        if span is None:
            return None, None
        self.add("span_outside_answer", m.group()[:80])
        return m.group().strip(), span

    def _clamp_span(self, start: float, end: float) -> tuple[float, float]:
        hi = self.duration if self.duration is not None else math.inf
        clamped = (min(max(start, 0.0), hi), min(max(end, 0.0), hi))
        if clamped != (start, end):
            self.add("span_clamped", f"({start}, {end}) -> {clamped}")
        return clamped

    # ---- evidence ---------------------------------------------------------------------------

    def evidence(self, think: str) -> tuple[EvidenceItem, ...]:
        items: list[EvidenceItem] = []
        pending: _Mention | None = None
        for m in g.EVIDENCE_TAG.finditer(think):
            kind = m.lastgroup or ""
            self._check_evidence_tag(kind, m)
            if kind == "obj":
                self._drop_unfinished(pending)
                pending = self._open_mention(m)
            elif kind == "box":
                pending = self._add_box(pending, think, m)
            elif pending is not None:
                item = self._close_mention(pending, think, m)
                items.extend([item] if item else [])
                pending = None
        self._drop_unfinished(pending)
        return tuple(items)

    def _check_evidence_tag(self, kind: str, m: re.Match[str]) -> None:
        opening, closing = g.TAG_CANONICAL.get(kind, ("", ""))
        written = m.group()
        if not (written.startswith(opening) and written.endswith(closing)):
            self.add("tag_spacing", written[:40])

    def _open_mention(self, m: re.Match[str]) -> _Mention:
        """A nameless mention is still opened (so its boxes are not orphans), then dropped."""
        name = " ".join(m["name"].split())
        if not name:
            self.add("evidence_no_name")
        return _Mention(name=name, end=m.end())

    def _add_box(self, pending: _Mention | None, think: str, m: re.Match[str]) -> _Mention | None:
        gap = think[pending.end : m.start()] if pending else ""
        if pending is None or not g.BETWEEN_BOXES.fullmatch(gap):
            self._drop_unfinished(pending)
            self.add("box_without_obj", m["coords"][:40])
            return None
        if gap:
            self.add("evidence_spacing", repr(gap[:20]))
        pending.saw_box, pending.end = True, m.end()
        box = self.box(m["coords"])
        if box is not None:
            pending.boxes.append(box)
        return pending

    def _close_mention(self, p: _Mention, think: str, m: re.Match[str]) -> EvidenceItem | None:
        gap = think[p.end : m.start()]
        if not p.boxes or not p.name:
            self._drop_unfinished(p)
            return None
        if not g.BEFORE_TIME.fullmatch(gap):
            self.add("evidence_no_time", f"{p.name}: text between box and time")
            return None
        if gap != "at":
            self.add("evidence_spacing", repr(gap[:20]))
        time = self.time(m["time"])
        return EvidenceItem(p.name, time, tuple(p.boxes)) if time is not None else None

    def _drop_unfinished(self, p: _Mention | None) -> None:
        if p is None or not p.name:
            return
        if not p.saw_box:
            self.add("evidence_no_box", p.name)
        elif p.boxes:
            self.add("evidence_no_time", p.name)
        # saw boxes but all were dropped: those drops are already recorded

    # ---- one box, one time ------------------------------------------------------------------

    def box(self, coords: str) -> Box | None:
        numbers = g.NUMBER.findall(coords)
        values = [float(n) for n in numbers]
        if len(values) != 4 or not _finite(values):
            self.add("box_malformed", coords[:40])
            return None
        self._note_box_style(coords, numbers)
        box = self._ordered((values[0], values[1], values[2], values[3]), numbers)
        return self._inside(box)

    def _note_box_style(self, coords: str, numbers: list[str]) -> None:
        if g.BOX_CANONICAL.fullmatch(coords):
            return
        is_float = any(not n.lstrip("+-").isdigit() for n in numbers)
        self.add("box_float" if is_float else "box_spacing", coords[:40])

    def _ordered(self, box: Box, numbers: list[str]) -> Box:
        x1, y1, x2, y2 = box
        if self.fed_size and all(0 <= v <= 1 for v in box) and any("." in n for n in numbers):
            self.add("box_normalized", str(box))
            x1, y1, x2, y2 = denormalize_box(box, self.fed_size)
        if x1 > x2 or y1 > y2:
            self.add("box_swapped_corners", str(box))
        return (min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2))

    def _inside(self, box: Box) -> Box | None:
        if box_area(box) <= 0:
            self.add("box_empty", str(box))
            return None
        clipped = clip_box(box, self.fed_size) if self.fed_size else _clip_negative(box)
        if clipped is None:
            self.add("box_outside", str(box))
        elif clipped != box:
            self.add("box_clipped", f"{box} -> {clipped}")
        return clipped

    def time(self, content: str) -> float | None:
        value = self._time_value(content)
        if value is None:
            return None
        if value < 0:
            self.add("time_negative", content)
            value = 0.0
        if self.duration is not None and value > self.duration:
            if value > self.duration + TIME_SLACK_S:
                self.add("time_past_end", f"{value} > {self.duration}")
                return None
            self.add("time_clamped", f"{value} -> {self.duration}")
            value = self.duration
        return value

    def _time_value(self, content: str) -> float | None:
        value, clock = g.tag_time(content)
        if clock:
            self.add("time_clock_format", content)
        elif value is None:
            self.add("time_malformed", content[:40])
        return value
