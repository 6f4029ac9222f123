"""The question grammar the perceptive double understands.

Owns `Question` and `parse_question`. Pure.

    when does/did the [COLOUR] SHAPE appear|show up ...?     -> kind "when"
    when is the [COLOUR] SHAPE visible|shown|there ...?      -> kind "when"
    where is the [COLOUR] SHAPE ...?                         -> kind "where"
    what colo(u)r is the SHAPE ...?                          -> kind "colour"

SHAPE is one of `vision.SHAPE_KINDS` (square, rectangle, box, circle, ellipse, ball,
disc, shape, object); COLOUR one of `vision.PALETTE`. Multiple-choice options (lines
`A. ...` after the question, as the prompt builder writes them) are read too.
Anything else is kind "unknown" (the double then answers that it cannot tell).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from service.inference.perceptive.vision import PALETTE, SHAPE_KINDS

_COLOUR = "|".join(PALETTE)
_SHAPE = "|".join(SHAPE_KINDS)
_TARGET = rf"(?:the\s+|a\s+)?(?:(?P<colour>{_COLOUR})\s+)?(?P<shape>{_SHAPE})"
_PATTERNS = (
    ("when", re.compile(rf"\bwhen\s+(?:does|did|do)\s+{_TARGET}\s+(?:appear|show)", re.I)),
    ("when", re.compile(rf"\bwhen\s+is\s+{_TARGET}\s+(?:visible|shown|there|seen)", re.I)),
    ("where", re.compile(rf"\bwhere\s+is\s+{_TARGET}\b", re.I)),
    ("colour", re.compile(rf"\bwhat\s+colou?r\s+is\s+{_TARGET}\b", re.I)),
)
_OPTION = re.compile(r"^[ \t]*\(?([A-Z])[.):]\s*(.+?)\s*$", re.M)


@dataclass(frozen=True)
class Question:
    kind: str                        # when, where, colour, unknown
    colour: str | None = None
    shape: str | None = None
    options: tuple[tuple[str, str], ...] = ()   # (letter, text)

    @property
    def target(self) -> str:
        words = [w for w in (self.colour, self.shape) if w]
        return " ".join(words) or "object"


def parse_question(text: str) -> Question:
    """The question's kind, target and options (never raises)."""
    head, _, _ = text.partition("\n")
    options = tuple((m.group(1), m.group(2)) for m in _OPTION.finditer(text))
    for kind, pattern in _PATTERNS:
        m = pattern.search(head) or pattern.search(text)
        if m:
            colour = (m.group("colour") or "").lower() or None
            return Question(kind, colour, m.group("shape").lower(), options)
    return Question("unknown", options=options)
