"""`read_answer_box`: the `<obj>..</obj><box>[..]</box>` answer of an image question."""

from __future__ import annotations

import pytest

from service.grounding.answer_box import read_answer_box
from service.grounding.types import Box

CASES: list[tuple[str | None, tuple[str, Box] | None]] = [
    # the release's format, exactly
    ("<obj>cup</obj><box>[10,20,30,40]</box>", ("cup", (10.0, 20.0, 30.0, 40.0))),
    # spaces, floats, no brackets: read anyway
    ("<obj> red cup </obj> <box> 10.5, 20, 30, 40 </box>", ("red cup", (10.5, 20.0, 30.0, 40.0))),
    # swapped corners are put in order; the part outside the image is clipped
    ("<obj>a</obj><box>[90,80,10,5]</box>", ("a", (10.0, 5.0, 90.0, 80.0))),
    ("<obj>a</obj><box>[-5,0,500,50]</box>", ("a", (0.0, 0.0, 100.0, 50.0))),
    # a box without a name still answers where
    ("<box>[1,2,3,4]</box>", ("", (1.0, 2.0, 3.0, 4.0))),
    # nothing readable: three numbers, no box, nothing inside the image, no text
    ("<obj>a</obj><box>[1,2,3]</box>", None),
    ("a red cup", None),
    ("<obj>a</obj><box>[200,200,300,300]</box>", None),
    (None, None),
]


@pytest.mark.parametrize(("answer", "expected"), CASES)
def test_read_answer_box(answer: str | None, expected: tuple[str, Box] | None) -> None:
    assert read_answer_box(answer, (100, 100)) == expected
