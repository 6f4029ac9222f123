"""`o3-reason` flags -> SDK keywords, and the readable rendering of a result."""

from __future__ import annotations

import pytest
from rich.console import Console

from clients.cli.args import build_parser, reason_kwargs
from clients.cli.display import render_result
from clients.sdk.models import ReasonResult

CASES = [
    # (argv after VIDEO QUESTION, expected subset of the SDK keywords)
    (
        [],
        {
            "options": None,
            "n": None,
            "sampling": None,
            "frames": None,
            "return_traces": False,
            "async_": False,
        },
    ),  # nothing given: server defaults
    (["-o", "A. red", "-o", "B. blue"], {"options": ["A. red", "B. blue"]}),  # repeated
    (["--temperature", "0.7", "--seed", "3"], {"sampling": {"temperature": 0.7, "seed": 3}}),
    (
        ["--num-frames", "32", "--max-pixels", "262144"],
        {"frames": {"num_frames": 32, "max_pixels": 262144}},
    ),  # frame options grouped
    (
        ["--task", "temporal", "--voting", "majority", "-n", "4"],
        {"task": "temporal", "voting": "majority", "n": 4},
    ),
    (["--traces", "--async"], {"return_traces": True, "async_": True}),
]


@pytest.mark.parametrize(("argv", "expected"), CASES)
def test_flags_map_to_sdk_keywords(argv: list[str], expected: dict[str, object]) -> None:
    ns = build_parser().parse_args(["clip.mp4", "what?", *argv])
    got = reason_kwargs(ns)
    assert {k: got[k] for k in expected} == expected


def test_server_and_key_from_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O3_SERVER", "http://gw:9000")
    monkeypatch.setenv("O3_API_KEY", "k1")
    ns = build_parser().parse_args(["clip.mp4", "what?"])
    assert (ns.server, ns.api_key) == ("http://gw:9000", "k1")
    ns = build_parser().parse_args(["clip.mp4", "what?", "--server", "http://x", "--api-key", "k2"])
    assert (ns.server, ns.api_key) == ("http://x", "k2")  # flags win over the environment


def test_bad_choice_is_a_usage_error() -> None:
    with pytest.raises(SystemExit) as info:
        build_parser().parse_args(["clip.mp4", "q", "--voting", "loudest"])
    assert info.value.code == 2


def test_render_shows_answer_evidence_votes_and_flags() -> None:
    result = ReasonResult.model_validate(
        {
            "id": "r",
            "answer": "B",
            "confidence": 0.4,
            "abstained": True,
            "random_tiny_model": True,
            "votes": [
                {"answer": "B", "weight": 1.2, "votes": 2, "traces": [0, 3]},
                {"answer": "A", "weight": 1.0, "votes": 1, "traces": [1]},
            ],
            "evidence": [
                {
                    "object": "dog",
                    "time": 12.25,
                    "box": [10, 20, 110, 220],
                    "box_normalized": [0.1, 0.2, 0.3, 0.4],
                    "box_display_normalized": [0.1, 0.2, 0.3, 0.4],
                    "support": 2,
                }
            ],
            "traces": [
                {
                    "index": 0,
                    "text": "<think>the dog</think>",
                    "answer": "B",
                    "defects": ["missing_answer_close"],
                }
            ],
        }
    )
    console = Console(width=120, record=True, color_system=None)
    console.print(render_result(result, traces=True))
    text = console.export_text()
    for fragment in [
        "Answer: B",
        "Confidence: 0.40",
        "abstained",
        "RANDOM TINY MODEL",
        "12.2s",
        "dog",
        "[10, 20, 110, 220]",
        "0, 3",
        "trace 0",
        "missing_answer_close",
    ]:
        assert fragment in text, fragment


def test_render_says_when_one_greedy_trace_was_repeated() -> None:
    base = {"id": "r", "answer": "A", "confidence": 1.0,
            "votes": [{"answer": "A", "weight": 8.0, "votes": 8, "traces": list(range(8))}]}
    for repeated in (True, False):
        result = ReasonResult.model_validate({**base, "greedy_repeated": repeated})
        console = Console(width=120, record=True, color_system=None)
        console.print(render_result(result, traces=False))
        assert ("ONE greedy trace" in console.export_text()) is repeated
