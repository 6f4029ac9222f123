"""Free-form answer normalisation: when are two model answers "the same answer"?

The paper only defines voting over multiple-choice letters; free-form answers need a
notion of equality (SPEC section 4, last paragraph). This module owns it:

- `normalize_answer(text)` is the canonical form used as the voting key: Unicode
  NFKC, lowercase, number words written as digits ("two" -> "2", "twenty-one" ->
  "21"), punctuation removed (a decimal point between digits is kept: "2.5"),
  apostrophes dropped ("it's" -> "its"), the articles a / an / the dropped (unless
  nothing else is left), whitespace collapsed.
  "Two cats." / "2 cats" / "the two cats" all normalise to "2 cats".
- `similarity(a, b)` is a token-set F1 in [0, 1] over normalised tokens (1.0 when
  the normal forms have the same token multiset; order-insensitive), used with a
  threshold below 1.0 to group near-identical answers.

Invariants: both functions are pure, total on every `str` (they never raise) and
deterministic; `normalize_answer` is idempotent; `similarity` is symmetric and
`similarity(a, a) == 1.0`.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

_UNITS = {
    "zero": 0, "one": 1, "two": 2, "three": 3, "four": 4, "five": 5, "six": 6,
    "seven": 7, "eight": 8, "nine": 9, "ten": 10, "eleven": 11, "twelve": 12,
    "thirteen": 13, "fourteen": 14, "fifteen": 15, "sixteen": 16, "seventeen": 17,
    "eighteen": 18, "nineteen": 19,
}
_TENS = {
    "twenty": 20, "thirty": 30, "forty": 40, "fifty": 50,
    "sixty": 60, "seventy": 70, "eighty": 80, "ninety": 90,
}
_ARTICLES = frozenset({"a", "an", "the"})

# Punctuation: anything that is not a word character or whitespace, except a "."
# or "," that sits between two digits ("2.5", "1,000" -> handled below).
_PUNCT = re.compile(r"(?<!\d)[.,]|[.,](?!\d)|[^\w\s.,]|_")
_APOSTROPHE = re.compile(r"['\u2019]")
_THOUSANDS = re.compile(r"(?<=\d),(?=\d{3}\b)")
_HYPHEN_NUMBER = re.compile(r"\b(" + "|".join(_TENS) + r")-(" + "|".join(_UNITS) + r")\b")


def normalize_answer(text: str) -> str:
    """The canonical voting key of a free-form answer (see the module docstring).

    >>> normalize_answer("Two cats.")
    '2 cats'
    >>> normalize_answer("the  two   CATS")
    '2 cats'
    >>> normalize_answer("It costs 2.5 dollars, roughly.")
    'it costs 2.5 dollars roughly'
    """
    s = unicodedata.normalize("NFKC", text).lower()
    s = _HYPHEN_NUMBER.sub(r"\1 \2", s)
    s = _THOUSANDS.sub("", s)
    s = _PUNCT.sub(" ", _APOSTROPHE.sub("", s))
    words = s.split()
    # An answer made only of articles ("A.") keeps them rather than becoming empty.
    tokens = [t for t in words if t not in _ARTICLES] or words
    return " ".join(_numbers_to_digits(tokens))


def _numbers_to_digits(tokens: list[str]) -> list[str]:
    """Replace number words by digits; "twenty one" (tens then unit) becomes "21"."""
    out: list[str] = []
    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok in _TENS:
            value = _TENS[tok]
            nxt = tokens[i + 1] if i + 1 < len(tokens) else ""
            if 0 < _UNITS.get(nxt, 0) < 10:
                value += _UNITS[nxt]
                i += 1
            out.append(str(value))
        elif tok in _UNITS:
            out.append(str(_UNITS[tok]))
        else:
            out.append(tok)
        i += 1
    return out


def similarity(a: str, b: str) -> float:
    """Token-set F1 of the two answers' normal forms, in [0, 1].

    Two empty answers are identical (1.0); one empty answer matches nothing (0.0).

    >>> similarity("a red car", "The red car.")
    1.0
    >>> round(similarity("red car", "red truck"), 3)
    0.5
    """
    ta, tb = Counter(normalize_answer(a).split()), Counter(normalize_answer(b).split())
    if not ta and not tb:
        return 1.0
    common = sum((ta & tb).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(tb.values()), common / sum(ta.values())
    return 2 * precision * recall / (precision + recall)


def same_answer(a: str, b: str, threshold: float = 1.0) -> bool:
    """True when `a` and `b` count as one answer: equal normal forms, or (when
    `threshold` < 1) a token-set F1 of at least `threshold`."""
    if normalize_answer(a) == normalize_answer(b):
        return True
    return threshold < 1.0 and similarity(a, b) >= threshold
