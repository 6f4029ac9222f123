"""`python -m clients.bench` flags -> the frame options every reason request sends."""

from __future__ import annotations

from typing import Any

import pytest

from clients.bench.cli import build_parser, request_options

BASE = ["--data", "d.json", "--videos", "v", "--out", "o"]

# (argv after the bench name, the request's `frames` options)
SERVING = ["--protocol", "serving"]
CASES: list[tuple[list[str], dict[str, Any]]] = [
    # V-STAR default (release protocol): "up to 16 frames at 1 fps", near native size
    (["vstar"], {"num_frames": 16, "fps": 1.0, "max_pixels": 1_000_000,
                 "grid": "vstar-release"}),  # the script's own frame choice
    # serving protocol: the same frames at the server's pixel budget
    (["vstar", *SERVING], {"num_frames": 16, "fps": 1.0}),
    # --fps alone keeps the benchmark's count as the cap
    (["vstar", *SERVING, "--fps", "2"], {"num_frames": 16, "fps": 2.0}),
    # --num-frames alone keeps the benchmark's rate
    (["vstar", *SERVING, "--num-frames", "32"], {"num_frames": 32, "fps": 1.0}),
    # --fps 0 drops the rate: uniform frames only
    (["vstar", *SERVING, "--fps", "0", "--num-frames", "8"], {"num_frames": 8}),
    # MCQ: 64 uniform frames at the paper's 262,144-pixel budget, no rate (both protocols)
    (["mcq", "--format", "videomme"], {"num_frames": 64, "max_pixels": 262_144}),
    (["mcq", "--format", "videomme", *SERVING], {"num_frames": 64, "max_pixels": 262_144}),
    # TVG: the gateway's own defaults
    (["tvg"], {}),
]


@pytest.mark.parametrize(("argv", "frames"), CASES)
def test_frame_options(argv: list[str], frames: dict[str, Any]) -> None:
    args = build_parser().parse_args([argv[0], *BASE, *argv[1:]])
    assert request_options(args).frames() == frames


def test_release_presets() -> None:
    # the release's eval configs: greedy, repetition_penalty 1.05, its max_tokens
    v = request_options(build_parser().parse_args(["vstar", *BASE]))
    assert (v.temperature, v.repetition_penalty, v.max_tokens, v.n) == (0.0, 1.05, 2048, 1)
    assert v.sampling()["repetition_penalty"] == 1.05
    m = request_options(build_parser().parse_args(["mcq", *BASE, "--format", "videomme"]))
    assert (m.temperature, m.repetition_penalty, m.max_tokens, m.protocol) == (
        0.0, 1.05, 8192, "mcq-video")
    s = request_options(build_parser().parse_args(["mcq", *BASE, "--format", "videomme",
                                                   *SERVING]))
    assert (s.n, s.voting, s.temperature, s.protocol) == (8, "confidence", 1.0, None)
