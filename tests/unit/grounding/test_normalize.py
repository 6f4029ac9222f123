"""Free-form answer normalisation: the voting key and the similarity used to group."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from service.grounding.normalize import normalize_answer, same_answer, similarity

NORMAL_FORMS = [
    # the example: number word, article, trailing period all fold away
    ("Two cats.", "2 cats"),
    ("2 cats", "2 cats"),
    ("the two cats", "2 cats"),
    # case and runs of whitespace
    ("  A  RED\tCar ", "red car"),
    # a decimal point between digits survives punctuation stripping
    ("about 2.5 seconds.", "about 2.5 seconds"),
    # thousands separators are dropped, not turned into two numbers
    ("1,000 people", "1000 people"),
    # hyphenated and spaced compound numbers become one number
    ("twenty-one apples", "21 apples"),
    ("twenty one apples", "21 apples"),
    # a bare tens word stays itself (no unit to join)
    ("thirty", "30"),
    # apostrophes (straight and curly) join the word instead of splitting it
    ("it's a dog", "its dog"),
    ("it\u2019s a dog", "its dog"),
    # an answer that is only an article keeps it instead of becoming empty
    ("A.", "a"),
    # unicode compatibility forms (full-width letters) fold to ASCII
    ("\uff23\uff41\uff54", "cat"),
    # empty stays empty
    ("", ""),
]


@pytest.mark.parametrize(("text", "expected"), NORMAL_FORMS)
def test_normal_form(text: str, expected: str) -> None:
    assert normalize_answer(text) == expected


SIMILARITIES = [
    # same normal form -> 1.0 whatever the surface
    ("a red car", "The red car.", 1.0),
    # order-insensitive token sets
    ("red car", "car red", 1.0),
    # one of two tokens shared -> F1 0.5
    ("red car", "red truck", 0.5),
    # nothing shared
    ("dog", "cat", 0.0),
    # both empty are identical; one empty matches nothing
    ("", "", 1.0),
    ("", "dog", 0.0),
]


@pytest.mark.parametrize(("a", "b", "expected"), SIMILARITIES)
def test_similarity(a: str, b: str, expected: float) -> None:
    assert similarity(a, b) == pytest.approx(expected)


def test_same_answer_threshold() -> None:
    # exact normal-form match needs no threshold
    assert same_answer("Two cats.", "2 cats")
    # 0.5 F1 is not enough at the default exact-only threshold ...
    assert not same_answer("red car", "red truck")
    # ... but is at a 0.5 threshold
    assert same_answer("red car", "red truck", threshold=0.5)


@given(st.text(max_size=60))
def test_normalize_is_total_and_idempotent(text: str) -> None:
    once = normalize_answer(text)
    assert normalize_answer(once) == once


@given(st.text(max_size=40), st.text(max_size=40))
def test_similarity_is_symmetric_and_bounded(a: str, b: str) -> None:
    s = similarity(a, b)
    assert 0.0 <= s <= 1.0
    assert s == pytest.approx(similarity(b, a))
    assert similarity(a, a) == 1.0
