"""Reward tables (one comment per case) and properties: bounds, gating, sigma schedule."""

from __future__ import annotations

import json
import math
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from training.config import RewardConfig
from training.rewards import make_reward_funcs, matched_key_frame, score_all, sigma_at

FED = [112, 84]
GROUNDED = {
    "task": "temporal-spatial free-form QA", "answer": "the red square",
    "key_frames": [{"time": 2.0, "boxes": {"red square": [[10, 10, 30, 30]]}},
                   {"time": 6.0, "boxes": {"red square": [[60, 10, 80, 30]]}}],
    "fed_size": FED, "duration": 8.0,
}


def ann(**changes: Any) -> str:
    return json.dumps({**GROUNDED, **changes})


def trace(think: str, answer: str) -> str:
    return f"<think>{think}</think>\n<answer>{answer}</answer>"


RIGHT = "<obj>red square</obj><box>[10,10,30,30]</box>at<t>2.0</t>s"
PAPER, CODE = RewardConfig(), RewardConfig(gating="code", tau=1.0)

ACCURACY = [
    # MCQ: bare letter
    (trace("x", "B"), ann(task="General video QA MCQ", letter="B", n_options=3), 1.0),
    # MCQ: "B." and "(B)" are accepted (SPEC 5)
    (trace("x", "B."), ann(task="General video QA MCQ", letter="B", n_options=3), 1.0),
    (trace("x", "(B)"), ann(task="General video QA MCQ", letter="B", n_options=3), 1.0),
    # MCQ: the wrong letter scores 0
    (trace("x", "C"), ann(task="General video QA MCQ", letter="B", n_options=3), 0.0),
    # free-form: identical text -> ROUGE mean 1
    (trace("x", "the red square"), ann(), 1.0),
    # free-form: a one-word answer has no bigram, so even an exact match caps at 2/3
    # (ROUGE-1/2/L mean, the released behaviour)
    (trace("x", "blue"), ann(answer="blue"), 2 / 3),
    # free-form: no overlap -> 0
    (trace("x", "banana"), ann(), 0.0),
    # temporal: exact span -> tIoU 1
    (trace("x", "From <t>1.0</t>s to <t>3.0</t>s"),
     ann(task="temporal QA", span=[1.0, 3.0]), 1.0),
    # temporal: half-overlapping span -> tIoU 1/3
    (trace("x", "From <t>2.0</t>s to <t>4.0</t>s"),
     ann(task="temporal QA", span=[1.0, 3.0]), 1 / 3),
    # temporal MCQ: right letter and span -> 1; mean of letter and tIoU
    (trace("x", "From <t>1.0</t>s to <t>3.0</t>s.\nCorrect Option: A"),
     ann(task="temporal QA (MCQ)", span=[1.0, 3.0], letter="A", n_options=3), 1.0),
    # temporal MCQ: wrong letter, exact span -> 0.5
    (trace("x", "From <t>1.0</t>s to <t>3.0</t>s.\nCorrect Option: B"),
     ann(task="temporal QA (MCQ)", span=[1.0, 3.0], letter="A", n_options=3), 0.5),
    # image grounding: box IoU of the answer box
    (trace("x", "<obj>cup</obj><box>[0,0,10,10]</box>"),
     ann(task="visual QA", gt_box=[0, 0, 10, 20], key_frames=[]), 0.5),
    # no answer at all -> 0
    ("<think>x</think>", ann(), 0.0),
]


@pytest.mark.parametrize(("text", "annotation", "expected"), ACCURACY)
def test_accuracy(text: str, annotation: str, expected: float) -> None:
    assert score_all(text, annotation, PAPER)["accuracy"] == pytest.approx(expected, abs=1e-6)


FORMAT = [
    # think + answer + well-formed evidence -> 1
    (trace(f"see {RIGHT}", "a"), ann(), 1.0),
    # think + answer without evidence -> 0.5
    (trace("no evidence here", "a"), ann(), 0.5),
    # an unclosed <obj> tag is not well-formed evidence -> 0.5
    (trace(f"{RIGHT} and <obj>cup", "a"), ann(), 0.5),
    # missing </think> -> 0 (the parser recovers, the format reward does not)
    (f"<think>{RIGHT}\n<answer>a</answer>", ann(), 0.0),
    # two answers -> 0
    (trace(RIGHT, "a") + "<answer>b</answer>", ann(), 0.0),
    # nothing -> 0
    ("the answer is a", ann(), 0.0),
    # temporal task: two <t> mentions are its evidence -> 1
    (trace("from <t>1.0</t>s to <t>3.0</t>s", "From <t>1.0</t>s to <t>3.0</t>s"),
     ann(task="temporal QA", span=[1.0, 3.0]), 1.0),
    # temporal task: a single <t> is not enough -> 0.5
    (trace("at <t>1.0</t>s", "From <t>1.0</t>s to <t>3.0</t>s"),
     ann(task="temporal QA", span=[1.0, 3.0]), 0.5),
]


@pytest.mark.parametrize(("text", "annotation", "expected"), FORMAT)
def test_format(text: str, annotation: str, expected: float) -> None:
    assert score_all(text, annotation, PAPER)["format"] == expected


TEMPORAL = [
    # a mention exactly at a key time -> 1
    (trace(RIGHT, "a"), ann(), 1.0, 1.0),
    # 1 s off with sigma 1 (end of training) -> exp(-1/2)
    (trace(RIGHT.replace("2.0", "3.0"), "a"), ann(), 1.0, math.exp(-0.5)),
    # 1 s off at progress 0 (sigma 4) -> exp(-1/32): early training is lenient
    (trace(RIGHT.replace("2.0", "3.0"), "a"), ann(), 0.0, math.exp(-1 / 32)),
    # nearest key time is used (6.0, not 2.0)
    (trace(RIGHT.replace("2.0", "6.0"), "a"), ann(), 1.0, 1.0),
    # interval: 1 of 2 predicted times inside the span -> 0.5
    (trace("<t>1.5</t>s and <t>5.0</t>s", "From <t>1.0</t>s to <t>3.0</t>s"),
     ann(task="temporal QA", span=[1.0, 3.0]), 1.0, 0.5),
    # general video QA gets no temporal term
    (trace(RIGHT, "B"), ann(task="General video QA MCQ", letter="B"), 1.0, 0.0),
    # no times -> 0
    (trace("nothing", "a"), ann(), 1.0, 0.0),
]


@pytest.mark.parametrize(("text", "annotation", "progress", "expected"), TEMPORAL)
def test_temporal(text: str, annotation: str, progress: float, expected: float) -> None:
    got = score_all(text, annotation, PAPER, progress)["temporal"]
    assert got == pytest.approx(expected, abs=1e-6)


SPATIAL = [
    # right box at the right time -> 1
    (trace(RIGHT, "a"), PAPER, 1.0),
    # right box, time 1.9 s off: inside tau=3 (paper), nearest key frame -> still counted
    (trace(RIGHT.replace("2.0", "3.9"), "a"), PAPER, 1.0),
    # 2.5 s off but nearer the 6.0 s key frame: matched there, whose box differs -> 0
    (trace(RIGHT.replace("2.0", "4.5"), "a"), PAPER, 0.0),
    # the frame-6 box cited at 2.0: matched to frame 2's annotation -> IoU 0
    (trace(RIGHT.replace("[10,10,30,30]", "[60,10,80,30]"), "a"), PAPER, 0.0),
    # time far from every key frame (tau 3): gated out, scores 0 though box matches
    (trace(RIGHT.replace("2.0", "10.0").replace("[10,10,30,30]", "[60,10,80,30]"), "a"),
     RewardConfig(tau=3.0), 0.0),
    # released code gating: 1.5 s BEFORE a key time is refused (gt - pred = 1.5 >= 1)
    (trace(RIGHT.replace("2.0", "0.5"), "a"), CODE, 0.0),
    # released code gating bug: 3 s AFTER a key time is accepted (gt - pred < 1, one-sided)
    (trace(RIGHT.replace("2.0", "5.0"), "a"), CODE, 1.0),
    # two mentions, one right and one gated out -> mean 0.5 (gated ones count in the mean)
    (trace(RIGHT + " " + RIGHT.replace("2.0", "12.0"), "a"), RewardConfig(tau=3.0), 0.5),
    # a half-overlapping box -> IoU 1/3
    (trace(RIGHT.replace("[10,10,30,30]", "[20,10,40,30]"), "a"), PAPER, 1 / 3),
]


@pytest.mark.parametrize(("text", "cfg", "expected"), SPATIAL)
def test_spatial(text: str, cfg: RewardConfig, expected: float) -> None:
    got = score_all(text, ann(duration=20.0), cfg)["spatial"]
    assert got == pytest.approx(expected, abs=1e-6)


def test_sigma_schedule_endpoints() -> None:
    cfg = RewardConfig()
    assert sigma_at(0.0, cfg) == 4.0          # starts at 4
    assert sigma_at(0.375, cfg) == 2.5        # = 4 (1 - p), the released formula
    assert sigma_at(0.75, cfg) == 1.0         # reaches 1 at 75 %
    assert sigma_at(1.0, cfg) == 1.0          # stays at 1
    assert sigma_at(0.1, RewardConfig(adaptive_sigma=False)) == 1.0  # ablation: fixed


@settings(max_examples=200, deadline=None)
@given(st.floats(0, 1))
def test_sigma_matches_released_formula(p: float) -> None:
    assert sigma_at(p, RewardConfig()) == pytest.approx(max(1.0, 4 * (1 - p)))


TASKS = ["temporal-spatial free-form QA", "General video QA MCQ", "temporal QA",
         "temporal QA (MCQ)", "visual QA", "General video QA Free-form"]


@settings(max_examples=150, deadline=None)
@given(text=st.text(max_size=300), task=st.sampled_from(TASKS), p=st.floats(0, 1))
def test_every_reward_within_bounds_on_any_text(text: str, task: str, p: float) -> None:
    a = ann(task=task, letter="A", span=[1.0, 3.0], gt_box=[0, 0, 10, 10], n_options=3)
    for cfg in (PAPER, CODE):
        for value in score_all(text, a, cfg, p).values():
            assert 0.0 <= value <= 1.0


def _mention(x: int, y: int, t: float) -> str:
    return f"<obj>s</obj><box>[{x},{y},{x + 20},{y + 20}]</box>at<t>{t:.1f}</t>s"


@settings(max_examples=150, deadline=None)
@given(st.floats(0, 60), st.integers(0, 90), st.integers(0, 60), st.floats(0.5, 5))
def test_gating_never_rewards_a_box_at_the_wrong_time(
    t: float, x: int, y: int, tau: float
) -> None:
    # the box is exactly right for the key frame at 2.0 s, cited at time t
    a = ann(key_frames=[{"time": 2.0, "boxes": {"s": [[x, y, x + 20, y + 20]]}}], duration=60.0)
    got = score_all(trace(_mention(x, y, t), "a"), a, RewardConfig(tau=tau))["spatial"]
    if abs(round(t, 1) - 2.0) > tau:
        assert got == 0.0
    else:
        assert got == pytest.approx(1.0)


@given(st.floats(-100, 100), st.lists(st.floats(0, 100), min_size=1, max_size=6))
def test_matched_key_frame_is_within_tau(t: float, keys: list[float]) -> None:
    idx = matched_key_frame(t, keys, RewardConfig(tau=3.0))
    if idx is not None:
        assert abs(keys[idx] - t) <= 3.0
    else:
        assert all(abs(k - t) > 3.0 for k in keys)


def test_trl_signature_conversational_and_progress() -> None:
    funcs = {f.__name__: f for f in make_reward_funcs(RewardConfig())}
    assert list(funcs) == ["accuracy", "format", "temporal", "spatial"]
    off = trace(RIGHT.replace("2.0", "3.0"), "the red square")
    completions = [[{"role": "assistant", "content": off}], off]  # both TRL shapes
    kwargs: dict[str, Any] = {"prompts": ["p", "p"], "completion_ids": [[1], [1]],
                              "annotation": [ann(), ann()], "task": ["x", "x"]}
    early = SimpleNamespace(global_step=0, max_steps=100)
    late = SimpleNamespace(global_step=100, max_steps=100)
    t_early = funcs["temporal"](completions=completions, trainer_state=early, **kwargs)
    t_late = funcs["temporal"](completions=completions, trainer_state=late, **kwargs)
    assert t_early == pytest.approx([math.exp(-1 / 32)] * 2)  # sigma 4 at the start
    assert t_late == pytest.approx([math.exp(-0.5)] * 2)     # sigma 1 at the end
    assert funcs["accuracy"](completions=completions, **kwargs) == [1.0, 1.0]


# ---- paper-mode fixes (issue 12) ------------------------------------------------------


def test_temporal_mcq_span_counts_without_a_readable_letter() -> None:
    # a perfect span with no `Correct Option:` letter: letter 0, span 1 -> mean 0.5
    text = trace("x", "From <t>1.0</t>s to <t>3.0</t>s.")
    a = ann(task="temporal QA (MCQ)", span=[1.0, 3.0], letter="A", n_options=3)
    assert score_all(text, a, PAPER)["accuracy"] == pytest.approx(0.5)


def test_dropped_mentions_score_zero_in_the_spatial_mean() -> None:
    # one right mention, one the parser drops (its box is malformed): (1 + 0) / 2
    dropped = "<obj>red square</obj><box>[10,10,30]</box>at<t>2.0</t>s"
    scores = score_all(trace(f"{RIGHT} and {dropped}", "a"), ann(), PAPER)
    assert scores["spatial"] == pytest.approx(0.5)
    # and one whose time is unreadable
    no_time = "<obj>red square</obj><box>[10,10,30,30]</box>at<t>soon</t>s"
    assert score_all(trace(f"{RIGHT} {no_time}", "a"), ann(), PAPER)["spatial"] == (
        pytest.approx(0.5))


def test_clock_times_in_the_think_section_are_seconds() -> None:
    # `0:02` is 2 s (not 0 s): at the key frame, so proximity 1
    text = trace("<obj>red square</obj><box>[10,10,30,30]</box>at<t>0:02</t>s", "a")
    assert score_all(text, ann(), PAPER)["temporal"] == pytest.approx(1.0)
    # an unreadable time is a miss in the mean, not silently skipped
    both = trace("at <t>2.0</t>s and <t>later</t>s", "a")
    assert score_all(both, ann(), PAPER)["temporal"] == pytest.approx(0.5)
