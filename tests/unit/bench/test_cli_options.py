"""`python -m clients.bench` flags -> the frame options every reason request sends."""

from __future__ import annotations

from typing import Any

import pytest

from clients.bench.cli import build_parser, request_options

BASE = ["--data", "d.json", "--videos", "v", "--out", "o"]

# (argv after the bench name, the request's `frames` options)
CASES: list[tuple[list[str], dict[str, Any]]] = [
    # V-STAR default: the paper's "up to 16 frames at 1 fps"
    (["vstar"], {"num_frames": 16, "fps": 1.0}),
    # --fps alone keeps the benchmark's count as the cap
    (["vstar", "--fps", "2"], {"num_frames": 16, "fps": 2.0}),
    # --num-frames alone keeps the benchmark's rate
    (["vstar", "--num-frames", "32"], {"num_frames": 32, "fps": 1.0}),
    # --fps 0 drops the rate: uniform frames only
    (["vstar", "--fps", "0", "--num-frames", "8"], {"num_frames": 8}),
    # MCQ: 64 uniform frames at the paper's 262,144-pixel budget, no rate
    (["mcq", "--format", "videomme"], {"num_frames": 64, "max_pixels": 262_144}),
    # TVG: the gateway's own defaults
    (["tvg"], {}),
]


@pytest.mark.parametrize(("argv", "frames"), CASES)
def test_frame_options(argv: list[str], frames: dict[str, Any]) -> None:
    args = build_parser().parse_args([argv[0], *BASE, *argv[1:]])
    assert request_options(args).frames() == frames
