"""Geometry: IoU tables, rotation tables, and exact round trips of every coordinate map."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from service.grounding import geometry as geo
from service.grounding.types import Box, FrameSetMeta, Size

IOU = [
    ((0, 0, 10, 10), (0, 0, 10, 10), 1.0),         # identical
    ((0, 0, 10, 10), (20, 20, 30, 30), 0.0),       # disjoint
    ((0, 0, 10, 10), (10, 0, 20, 10), 0.0),        # touching edges share no area
    ((0, 0, 10, 10), (5, 0, 15, 10), 50 / 150),    # half overlap
    ((0, 0, 10, 10), (2, 2, 4, 4), 4 / 100),       # contained
    ((0, 0, 0, 10), (0, 0, 0, 10), 0.0),           # degenerate boxes: empty union -> 0
]


@pytest.mark.parametrize(("a", "b", "expected"), IOU)
def test_box_iou(a: Box, b: Box, expected: float) -> None:
    assert geo.box_iou(a, b) == pytest.approx(expected)
    assert geo.box_iou(b, a) == pytest.approx(expected)  # symmetric


TIOU = [
    ((0, 10), (0, 10), 1.0),      # identical
    ((0, 10), (5, 15), 5 / 15),   # SPEC 6: inter / hull
    ((0, 4), (6, 10), 0.0),       # disjoint (inter clamped at 0)
    ((2, 3), (0, 10), 0.1),       # contained
    ((5, 5), (5, 5), 0.0),        # two identical instants: empty hull -> 0
]


@pytest.mark.parametrize(("a", "b", "expected"), TIOU)
def test_temporal_iou(a: tuple[float, float], b: tuple[float, float], expected: float) -> None:
    assert geo.temporal_iou(a, b) == pytest.approx(expected)


CLIP = [
    ((1, 2, 3, 4), (10, 10), (1, 2, 3, 4)),        # inside: unchanged
    ((-5, -5, 5, 5), (10, 10), (0, 0, 5, 5)),      # negative corner clipped
    ((5, 5, 50, 50), (10, 10), (5, 5, 10, 10)),    # far corner clipped
    ((20, 20, 30, 30), (10, 10), None),            # fully outside: nothing left
    ((10, 0, 20, 5), (10, 10), None),              # only touches the edge: zero area
]


@pytest.mark.parametrize(("box", "size", "expected"), CLIP)
def test_clip_box(box: Box, size: Size, expected: Box | None) -> None:
    assert geo.clip_box(box, size) == expected


# A 64x32 coded frame; the box (0,0,8,8) is its top-left corner. Where it lands on screen:
ROTATE = [
    (0, (0, 0, 8, 8)),      # no rotation
    (90, (24, 0, 32, 8)),   # clockwise: top-left goes to top-right of the 32x64 display
    (180, (56, 24, 64, 32)),  # upside down: bottom-right
    (270, (0, 56, 8, 64)),  # counter-clockwise: bottom-left (what ffmpeg shows, see docstring)
]


@pytest.mark.parametrize(("rotation", "expected"), ROTATE)
def test_coded_to_display_table(rotation: int, expected: Box) -> None:
    assert geo.coded_to_display((0, 0, 8, 8), (64, 32), rotation) == expected


def test_unsupported_rotation_is_an_error() -> None:
    # Guards: a 45-degree rotation is a sampler bug, not something to guess at.
    with pytest.raises(ValueError, match="multiple of 90"):
        geo.coded_to_display((0, 0, 1, 1), (10, 10), 45)


def test_fed_to_original_example() -> None:
    # A 1280x720 phone video stored sideways (coded 1280x720, shown 720x1280 after a
    # clockwise turn), fed to the model at 224x392.
    meta = FrameSetMeta(times=(0.0,), fed_size=(224, 392), orig_size=(1280, 720), rotation=90)
    # The fed frame's top-left quarter is the display's top-left quarter (360x640), which
    # is the coded frame's bottom-left quarter after undoing the clockwise turn.
    assert geo.fed_to_original((0, 0, 112, 196), meta) == pytest.approx((0, 360, 640, 720))


coord = st.floats(0, 4000, allow_nan=False)
sizes = st.tuples(st.integers(1, 4000), st.integers(1, 4000))
rotations = st.sampled_from([0, 90, 180, 270])


@st.composite
def boxes(draw: st.DrawFn) -> Box:
    x1, x2 = sorted((draw(coord), draw(coord)))
    y1, y2 = sorted((draw(coord), draw(coord)))
    return (x1, y1, x2, y2)


@st.composite
def metas(draw: st.DrawFn) -> FrameSetMeta:
    return FrameSetMeta(
        times=(0.0,),
        fed_size=draw(sizes),
        orig_size=draw(sizes),
        rotation=draw(rotations),
    )


def close(a: Box, b: Box) -> bool:
    return all(abs(x - y) <= 1e-6 * max(1.0, abs(x)) for x, y in zip(a, b, strict=True))


def ordered(b: Box) -> bool:
    return b[0] <= b[2] and b[1] <= b[3]


@settings(max_examples=300, deadline=None)
@given(box=boxes(), size=sizes)
def test_normalize_round_trip(box: Box, size: Size) -> None:
    assert close(geo.denormalize_box(geo.normalize_box(box, size), size), box)


@settings(max_examples=300, deadline=None)
@given(box=boxes(), size=sizes, rotation=rotations)
def test_rotation_round_trip(box: Box, size: Size, rotation: int) -> None:
    display = geo.coded_to_display(box, size, rotation)
    display_size = (size[1], size[0]) if rotation % 180 else size
    assert ordered(display)
    # a turn keeps area (absolute tolerance: float areas of tiny boxes)
    assert geo.box_area(display) == pytest.approx(geo.box_area(box), rel=1e-6, abs=1e-6)
    assert close(geo.display_to_coded(display, display_size, rotation), box)


@settings(max_examples=300, deadline=None)
@given(box=boxes(), meta=metas())
def test_fed_original_round_trip(box: Box, meta: FrameSetMeta) -> None:
    orig = geo.fed_to_original(box, meta)
    assert ordered(orig)
    assert close(geo.original_to_fed(orig, meta), box)
    assert close(geo.fed_to_original(geo.original_to_fed(orig, meta), meta), orig)


@settings(max_examples=300, deadline=None)
@given(meta=metas())
def test_full_fed_frame_maps_to_full_original_frame(meta: FrameSetMeta) -> None:
    # Guards the sizes used at each step: the whole fed frame is the whole coded frame.
    fw, fh = meta.fed_size
    ow, oh = meta.orig_size
    assert close(geo.fed_to_original((0, 0, fw, fh), meta), (0, 0, ow, oh))
