"""`FramePolicy(grid="vstar-release")`: the release's V-STAR frame choice, row by row.

tests/golden/prompts_vstar.jsonl holds, per generated video (frame count, fps), the
frame times the release's `extract_frames_from_video` chose (run on a stub OpenCV reader
by scripts/golden/release_prompts.py). Our policy must choose the same frames on every row;
the default exact 1/fps grid differs on purpose (whole seconds; the script steps
`int(video_fps)` frames, e.g. 0.959 s at 23.976 fps).
"""

from __future__ import annotations

import json
import types
from pathlib import Path

from service.api.reason.params import policy_key
from service.video.policy import FramePolicy, choose_times

GOLDEN = Path(__file__).resolve().parents[2] / "golden" / "prompts_vstar.jsonl"
RELEASE = FramePolicy(num_frames=16, fps=1.0, grid="vstar-release")


def rows() -> list[dict[str, object]]:
    return [json.loads(line) for line in GOLDEN.open(encoding="utf-8")]


def info(data: dict[str, object]) -> types.SimpleNamespace:
    n, fps = int(str(data["frame_count"])), float(str(data["fps"]))
    return types.SimpleNamespace(frame_count=n, fps=fps, duration=n / fps)


def test_release_grid_equals_the_script_on_every_row() -> None:
    table = rows()
    assert len(table) >= 250
    bad = [i for i, r in enumerate(table)
           if choose_times(info(r["data"]), RELEASE) != r["frame_times"]]  # type: ignore[arg-type]
    assert bad == []


def test_exact_grid_differs_where_the_script_steps_whole_frames() -> None:
    exact = FramePolicy(num_frames=16, fps=1.0)
    differ = sum(choose_times(info(r["data"]), exact) != r["frame_times"]  # type: ignore[arg-type]
                 for r in rows())
    assert differ > 100  # measured: 195 of 250 rows


def test_default_grid_stays_out_of_the_cache_key() -> None:
    assert "grid" not in policy_key(FramePolicy())
    assert policy_key(RELEASE)["grid"] == "vstar-release"
