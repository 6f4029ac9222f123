"""The generator's truth model (pure parts: no encoding here)."""

from __future__ import annotations

import itertools
import math

import pytest

from service.grounding.geometry import coded_to_display
from service.video.index import PacketScan, decode_floor
from service.video.synth import SceneObject, frame_times_for

SIZE = (160, 120)


# (rotation, coded box, display box) on a 160x120 coded frame. The 90-degree row was
# checked against `ffmpeg` autorotate output of a synth video (square found there).
ROTATIONS = [
    (0, (10, 20, 30, 50), (10, 20, 30, 50)),  # no rotation: unchanged
    (90, (10, 20, 30, 50), (70, 10, 100, 30)),  # clockwise: x' = h - y2, y' = x1
    (180, (10, 20, 30, 50), (130, 70, 150, 100)),  # flipped both ways
    (270, (10, 20, 30, 50), (20, 130, 50, 150)),  # counter-clockwise: y' = w - x2
]


@pytest.mark.parametrize(("rot", "box", "want"), ROTATIONS)
def test_rotation_matches_ffmpeg_convention(
    rot: int, box: tuple[float, ...], want: tuple[float, ...]
) -> None:
    assert coded_to_display(box, SIZE, rot) == want  # type: ignore[arg-type]


def test_rotations_compose_to_identity() -> None:
    # 90 then 270 (on the rotated frame) returns to the start: the maps are inverses.
    box = (3.0, 7.0, 40.0, 90.0)
    once = coded_to_display(box, SIZE, 90)
    assert coded_to_display(once, (SIZE[1], SIZE[0]), 270) == box


OBJ = SceneObject("ball", (0, 255, 0), (10, 10), ((0.0, 0.0, 0.0), (2.0, 100.0, 50.0)),
                  appear=0.5, disappear=1.5)

# (time, expected box) for an object moving (0,0)->(100,50) over 2 s, shown 0.5..1.5 s
MOTION = [
    (0.4, None),  # before it appears
    (0.5, (25.0, 12.0, 35.0, 22.0)),  # appears; position interpolated and rounded
    (1.0, (50.0, 25.0, 60.0, 35.0)),  # halfway
    (1.5, None),  # disappear is exclusive
]


@pytest.mark.parametrize(("t", "want"), MOTION)
def test_object_box_at(t: float, want: tuple[float, ...] | None) -> None:
    assert OBJ.box_at(t) == want


def test_frame_times() -> None:
    assert frame_times_for(1.0, 10.0, False, 0) == [k / 10 for k in range(10)]
    vfr = frame_times_for(2.0, 30.0, True, seed=3)
    gaps = {round(b - a, 3) for a, b in itertools.pairwise(vfr)}
    assert len(gaps) > 1 and vfr[0] == 0.0 and vfr[-1] < 2.0
    assert not math.isclose(min(gaps), max(gaps))


# (frame times, keyframe times, targets, floor) -- the decode floor by hand
FLOORS = [
    # one GOP: reaching 0.4 needs frames 0..4
    ([k / 10 for k in range(10)], [0.0], [0.4], 5),
    # two targets in one GOP: the spans overlap, union 0..7
    ([k / 10 for k in range(10)], [0.0, 0.5], [0.3, 0.4, 0.7], 8),
    # targets right on keyframes: one frame each
    ([k / 10 for k in range(10)], [0.0, 0.5], [0.0, 0.5], 2),
    # a target between frames takes the nearest frame (0.26 -> frame 3)
    ([k / 10 for k in range(10)], [0.0], [0.26], 4),
]


@pytest.mark.parametrize(("frames", "keys", "targets", "floor"), FLOORS)
def test_decode_floor(frames: list[float], keys: list[float], targets: list[float],
                      floor: int) -> None:
    scan = PacketScan(tuple(frames), tuple(keys))
    assert decode_floor(scan, targets) == floor
