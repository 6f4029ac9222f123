"""Generated model output for the golden tables: traces, think texts, scorer replies,
temporal answers. Seeded and deterministic; clean and messy forms, each tagged with
the classes of mess it contains (tests/unit/golden name rows by these tags).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

SCORER_REPLIES_CLEAN = ["2", "1", "0"]
SCORER_REPLIES_MESSY = ["2\n", " 1", "Score: 2", "2.", "3", "", "1 - might be useful",
                        "two", "0 ", "**2**", "-1", "10"]


@dataclass
class Trace:
    text: str
    tags: set[str] = field(default_factory=set)


def _box(rng: random.Random, size: tuple[int, int], tags: set[str], clean: bool) -> str:
    w, h = size
    x1, y1 = rng.randint(0, w - 20), rng.randint(0, h - 20)
    x2, y2 = rng.randint(x1 + 1, w), rng.randint(y1 + 1, h)
    kind = 0.0 if clean else rng.random()
    if kind < 0.55:
        return f"[{x1},{y1},{x2},{y2}]"
    if kind < 0.62:
        tags.add("box_spaces")
        return f"[{x1}, {y1}, {x2}, {y2}]"
    if kind < 0.69:
        tags.add("box_float")
        return f"[{x1 + 0.5},{y1 + 0.25},{x2 - 0.5},{y2 + 0.75}]"
    if kind < 0.76:
        tags.add("box_swapped")
        return f"[{x2},{y1},{x1},{y2}]"
    if kind < 0.82:
        tags.add("box_negative")
        return f"[{-rng.randint(1, 60)},{-rng.randint(1, 60)},{rng.randint(-30, 40)},{y2}]"
    if kind < 0.88:
        tags.add("box_outside")
        return f"[{w + 5},{y1},{w + 50},{y2}]"
    if kind < 0.94:
        tags.add("box_zero")
        return f"[{x1},{y1},{x1},{y2}]"
    tags.add("box_normalized")
    return f"[{x1 / w:.2f},{y1 / h:.2f},{x2 / w:.2f},{y2 / h:.2f}]"


def _time(rng: random.Random, duration: float, tags: set[str], clean: bool) -> str:
    kind = 0.0 if clean else rng.random()
    t = rng.uniform(0, duration)
    if kind < 0.7:
        return f"{t:.1f}"
    if kind < 0.76:
        tags.add("time_integer")
        return str(int(t))
    if kind < 0.82:
        tags.add("time_past_end")
        return f"{duration + rng.uniform(0.2, 30):.1f}"
    if kind < 0.87:
        tags.add("time_negative")
        return f"-{rng.uniform(0.1, 3):.1f}"
    if kind < 0.93:
        tags.add("time_clock")
        return f"0:{int(t):02d}"
    tags.add("time_suffix")
    return f"{t:.1f}s"


def mention(rng: random.Random, size: tuple[int, int], duration: float, tags: set[str],
            clean: bool = False) -> str:
    name = rng.choice(["man", "red car", "dog", "cup", "woman in blue", "ball"])
    box = f"<box>{_box(rng, size, tags, clean)}</box>"
    t = _time(rng, duration, tags, clean)
    kind = 0.0 if clean else rng.random()
    if kind < 0.7:
        return f"<obj>{name}</obj>{box}at<t>{t}</t>s"
    if kind < 0.77:
        tags.add("evidence_spaced")
        return f"<obj>{name}</obj>{box} at <t>{t}</t>s"
    if kind < 0.84:
        tags.add("evidence_multibox")
        return f"<obj>{name}</obj>{box}<box>{_box(rng, size, tags, clean)}</box>at<t>{t}</t>s"
    if kind < 0.89:
        tags.add("evidence_no_time")
        return f"<obj>{name}</obj>{box} somewhere"
    if kind < 0.94:
        tags.add("evidence_tag_case")
        return f"<OBJ>{name}</OBJ>{box}at<t>{t}</t>s"
    tags.add("evidence_name_spaced")
    return f"<obj> {name} </obj>{box}at<t>{t}</t>s"


def think_body(rng: random.Random, size: tuple[int, int], duration: float,
               tags: set[str], max_mentions: int = 13, clean: bool = False) -> str:
    k = rng.choice([0, 1, 1, 2, 2, 3, 4, 5] if clean else [0, 1, 1, 2, 2, 3, 4, 5, max_mentions])
    if k == 0:
        tags.add("no_evidence")
    if k > 10:
        tags.add("over_ten_mentions")
    parts = ["Looking at the video."]
    for _ in range(k):
        parts.append(f"I see {mention(rng, size, duration, tags, clean)}.")
    return " ".join(parts)


def _answer(rng: random.Random, letter: str, letters: str, tags: set[str], clean: bool) -> str:
    kind = 0.0 if clean else rng.random()
    if kind < 0.6:
        return f"<answer>{letter}</answer>"
    forms = [("answer_padded", f"<answer> {letter}\n</answer>"),
             ("answer_paren", f"<answer>({letter})</answer>"),
             ("answer_dot", f"<answer>{letter}.</answer>"),
             ("answer_lower", f"<answer>{letter.lower()}</answer>"),
             ("answer_with_text", f"<answer>{letter}. the one on the left</answer>"),
             ("answer_keyword", f"<answer>Answer: {letter}</answer>"),
             ("answer_out_of_range", f"<answer>{chr(ord(letters[-1]) + 1)}</answer>"),
             ("answer_empty", "<answer> </answer>"),
             ("answer_missing", ""),
             ("answer_unclosed", f"<answer>{letter}"),
             ("answer_twice", f"<answer>{letter}</answer><answer>{rng.choice(letters)}</answer>"),
             ("answer_spaced_tag", f"< answer >{letter}</answer>")]
    tag, text = rng.choice(forms)
    tags.add(tag)
    return text


def mcq_trace(rng: random.Random, letters: str, size: tuple[int, int], duration: float,
              favourite: str, clean: bool = False) -> Trace:
    """One trace; `clean` makes every choice the canonical form (tags stay empty)."""
    tags: set[str] = set()
    letter = favourite if rng.random() < 0.45 else rng.choice(letters)
    body = think_body(rng, size, duration, tags, clean=clean)
    answer = _answer(rng, letter, letters, tags, clean)
    kind = 0.0 if clean else rng.random()
    if kind < 0.75:
        text = f"<think>{body}</think>\n{answer}"
    elif kind < 0.83:
        tags.add("think_unclosed")
        text = f"<think>{body}\n{answer}"
    elif kind < 0.88:
        tags.add("think_missing")
        text = f"{body}\n{answer}"
    elif kind < 0.93:
        tags.add("answer_inside_think")
        other = rng.choice(letters)
        text = f"<think>{body} maybe <answer>{other}</answer></think>\n{answer}"
    elif kind < 0.97:
        tags.add("think_open_missing")
        text = f"{body}</think>\n{answer}"
    else:
        tags.add("think_spaced_tag")
        text = f"<think >{body}</think>\n{answer}"
    return Trace(text, tags)


def scorer_replies(rng: random.Random, n: int, messy: float) -> list[str]:
    return [rng.choice(SCORER_REPLIES_MESSY) if rng.random() < messy
            else rng.choice(SCORER_REPLIES_CLEAN) for _ in range(n)]


def temporal_answer(rng: random.Random) -> tuple[str, str]:
    """(text, class) of a "when" answer as a model may write it."""
    a = round(rng.uniform(0, 80), rng.choice([0, 1, 1, 2]))
    b = round(a + rng.uniform(0.5, 40), rng.choice([0, 1, 1, 2]))
    ia, ib = int(a), int(b)
    mm = lambda s: f"{s // 60}:{s % 60:02d}"  # noqa: E731
    hh = lambda s: f"{s // 3600}:{(s // 60) % 60:02d}:{s % 60:02d}"  # noqa: E731
    forms = [
        ("tagged", f"From <t>{a}</t>s to <t>{b}</t>s"),
        ("tagged_spaced", f"From <t> {a} </t> s to <t>{b}</t>s."),
        ("untagged", f"From {a}s to {b}s"),
        ("untagged_seconds", f"from {a} seconds to {b} seconds"),
        ("dash", f"{a} - {b}"),
        ("clock", f"From {mm(ia)} to {mm(ib)}"),
        ("clock_tagged", f"From <t>{mm(ia)}</t>s to <t>{mm(ib)}</t>s"),
        ("clock_decimal", f"From {mm(ia)}.5 to {mm(ib)}"),
        ("clock_hours", f"From {hh(ia + 3600)} to {hh(ib + 3600)}"),
        ("bracketed", f"[{a}, {b}]"),
        ("parenthesized", f"({a}, {b})"),
        ("between", f"between {a} and {b} seconds"),
        ("three_numbers", f"From {a} to {b}, about {ia % 7 + 2} events"),
        ("one_number", f"At {a} seconds"),
        ("none", "The moment is not shown."),
        ("think_and_answer",
         f"<think>At <t>{ia % 5}</t>s nothing; later</think>\n<answer>From <t>{a}</t>s "
         f"to <t>{b}</t>s</answer>"),
        ("outside_answer", f"<think>the man waves</think>\nFrom <t>{a}</t>s to <t>{b}</t>s"),
        ("answer_with_clock", f"<think>x</think><answer>From {mm(ia)} to {mm(ib)}</answer>"),
        ("swapped", f"From <t>{b}</t>s to <t>{a}</t>s"),
        ("repeated_clock", f"From {mm(ia)} to {mm(ia)} and {mm(ib)}"),
    ]
    cls, text = rng.choice(forms)
    return text, cls
