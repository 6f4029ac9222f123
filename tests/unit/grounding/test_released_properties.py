"""The release's readings (`grounding.released`) never raise on model text, and what they
return is usable: crops lie inside the frame, frame indices inside the frame list."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from service.grounding import released as rel

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
FRAGMENTS = ["<think>", "</think>", "<answer>", "</answer>", "<obj>", "</obj>", "<box>",
             "</box>", "at", "<t>", "</t>s", "[", "]", ",", "-7", "1e999", "nan", "inf",
             "0:05", "1_000", " ", "\n", "A", "3.5", "99999"]
soup = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=5)), max_size=60).map(
    "".join)


@SETTINGS
@given(text=st.one_of(soup, st.text()), n=st.integers(1, 64),
       fps=st.floats(0, 1e3, allow_nan=False), w=st.integers(1, 2000), h=st.integers(1, 2000))
def test_released_readings_never_raise(text: str, n: int, fps: float, w: int, h: int) -> None:
    rel.answer_text(text)
    rel.mcq_letter(text, ("A", "B", "C", "D"))
    rel.timestamps(text)
    think = rel.think_text(text) or text
    mentions = rel.evidence(think)
    for c in rel.crops(mentions, fps, n, (w, h)):
        x1, y1, x2, y2 = c.rect
        assert 0 <= c.frame < n
        assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


@SETTINGS
@given(reply=st.text(max_size=4))
def test_only_three_replies_are_read(reply: str) -> None:
    value = rel.scorer_value(reply)
    assert (value != -1) == (reply in ("0", "1", "2"))
    assert rel.relevance_weight(value) in (0.2, 0.6, 1.0)
