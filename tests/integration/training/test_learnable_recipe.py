"""The `cue` and `grid` synthetic recipes: position and time really are in the decoded pixels.

Generates real H.264 videos with `recipe="cue"`, decodes them through the
service's sampler and checks what the learnable CPU ablation relies on: the background
colour at a pixel tells its x (red) and y (green) and the frame's time (blue) after
encoding and decoding; spans are short and anywhere; the static shape never overlaps the
appearer; and the default recipe is untouched by the option.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np
import pytest

from service.video.decode import decode_at
from service.video.probe import probe_video
from training.synth_records import (
    GRID_CELL,
    HEIGHT,
    LEARNABLE_DURATION,
    WIDTH,
    generate,
    make_scene,
)


@pytest.fixture(scope="module")
def learnable(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("learnable")
    generate(out, 8, seed=5, tasks=("temporal QA", "visual QA"), recipe="cue")
    return out


def test_background_encodes_position_and_time(learnable: Path) -> None:
    video = next((learnable / "videos").glob("*.mp4"))
    info = probe_video(video)
    assert info.duration == pytest.approx(LEARNABLE_DURATION, abs=0.15)
    frames, _ = decode_at(video, info, [0.5, 4.0, 7.5], (WIDTH, HEIGHT))
    blues = []
    for f in frames:
        px = np.asarray(f.image).astype(int)
        left, right = px[HEIGHT - 3, 2], px[HEIGHT - 3, WIDTH - 3]  # bottom row, no shape
        top, bottom = px[36, 2], px[HEIGHT - 3, 2]
        assert right[0] - left[0] > 80  # red rises with x (60 -> 160 drawn)
        assert bottom[1] - top[1] > 40  # green rises with y
        blues.append(left[2])
    assert blues[0] < blues[1] < blues[2]  # blue rises with time
    assert blues[2] - blues[0] > 70


def test_spans_short_and_anywhere_static_apart(learnable: Path) -> None:
    records = json.loads((learnable / "STGR-RL.json").read_text())
    spans = [json.loads(r["answer"]) for r in records if r["task"] == "temporal QA"]
    assert spans and all(0.4 <= a < b <= LEARNABLE_DURATION and b - a <= 2.7 for a, b in spans)
    rng = random.Random(0)
    for _ in range(200):
        scene, _ = make_scene(rng, "cue")
        _, appearer, static = scene.objects
        (ax, ay), (sx, sy) = appearer.path[0][1:], static.path[0][1:]
        assert abs(ax - sx) >= static.size[0] or abs(ay - sy) >= static.size[1]
        assert appearer.appear >= 0.5 and appearer.disappear - appearer.appear <= 2.5 + 1e-9
        assert scene.cue_s == LEARNABLE_DURATION


def test_default_recipe_unchanged_by_the_option() -> None:
    a, _ = make_scene(random.Random(7))
    b, _ = make_scene(random.Random(7), "default")
    assert a == b and a.cue_s == 0.0
    with pytest.raises(ValueError, match="unknown recipe"):
        make_scene(random.Random(7), "nope")


def test_grid_recipe_puts_shapes_in_cells_and_spans_on_seconds() -> None:
    rng = random.Random(1)
    cells_seen = set()
    for _ in range(200):
        scene, _ = make_scene(rng, "grid")
        _, appearer, static = scene.objects
        cells = []
        for obj in (appearer, static):
            x, y = obj.path[0][1:]
            cx, cy = (x - (GRID_CELL - obj.size[0]) // 2), (y - (GRID_CELL - obj.size[1]) // 2)
            assert cx % GRID_CELL == 0 and cy % GRID_CELL == 0 and cy >= GRID_CELL
            cells.append((cx, cy))
        assert cells[0] != cells[1]
        cells_seen.add(cells[1])
        assert appearer.appear in (1.0, 2.0, 3.0, 4.0, 5.0)
        assert appearer.disappear - appearer.appear in (1.0, 2.0)
        assert scene.cue_s == LEARNABLE_DURATION
    assert len(cells_seen) == (WIDTH // GRID_CELL) * 2  # every cell below the mover's row


def test_slots_recipe_is_grid_with_every_span_two_seconds() -> None:
    # same draws as grid (cells, start, colours), only the length is fixed: so grid's
    # data stays byte for byte what its documented runs used
    grid_rng, slots_rng = random.Random(5), random.Random(5)
    starts = set()
    for _ in range(100):
        grid, _ = make_scene(grid_rng, "grid")
        slots, _ = make_scene(slots_rng, "slots")
        g_app, s_app = grid.objects[1], slots.objects[1]
        assert s_app.disappear - s_app.appear == 2.0
        assert (s_app.appear, s_app.path, slots.objects[2]) == (g_app.appear, g_app.path,
                                                                 grid.objects[2])
        starts.add(s_app.appear)
    assert starts == {1.0, 2.0, 3.0, 4.0, 5.0}
