"""Evidence pictures on real generated videos: boxes land on the moving square.

The result objects here cite the square's TRUE box (computed from the generator), so
the test checks the drawing and the coordinate handling (display orientation), not a
model. A rotated video checks that `box_display_normalized` is drawn on the
display-oriented frame.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image

from clients.annotate import annotate, group_by_time
from clients.annotate.draw import HEADER_HEIGHT, colour_for, panel_slots, pixel_box
from clients.annotate.render import _decode
from clients.sdk.models import Evidence, ReasonResult
from service.grounding.geometry import normalize_box
from service.video.probe import probe_video
from service.video.synth import MovingSquareTruth
from tests.integration.clients.videos import bright_bbox, display_size, square_video


def _evidence(truth: MovingSquareTruth, t: float) -> Evidence:
    coded = truth.box_at(t)
    display = truth.display_box_at(t)
    coded_size = (truth.scene.width, truth.scene.height)
    return Evidence(
        object="square", time=t, support=1, traces=[0], box=list(coded),
        box_normalized=list(normalize_box(coded, coded_size)),
        box_display_normalized=list(normalize_box(display, display_size(truth.rotation))),
    )


def _result(items: list[Evidence]) -> ReasonResult:
    return ReasonResult(id="rsn_t", answer="square", confidence=0.9, evidence=items)


def _iou(a: tuple[float, ...], b: tuple[float, ...]) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter)


ROTATIONS = [
    # (rotation) -- what it guards
    0,  # plain landscape video
    90,  # phone video: coded landscape, displayed portrait; box must follow the turn
]


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_display_box_lands_on_the_square(tmp_path: Path, rotation: int) -> None:
    video = tmp_path / f"sq{rotation}.mp4"
    truth = square_video(video, rotation=rotation)
    info = probe_video(video)
    for t in (0.5, 1.5, 2.5):
        (frame,) = _decode(video, info, [t], panel_width=4000)
        found = bright_bbox(frame)
        assert found is not None
        drawn = pixel_box(_evidence(truth, t).box_display_normalized, frame.size)
        assert _iou(drawn, found) > 0.8, (t, drawn, found)


def _near(pixel: tuple[int, ...], colour: tuple[int, int, int], tol: int = 70) -> bool:
    return sum(abs(a - b) for a, b in zip(pixel[:3], colour, strict=True)) < tol


@pytest.mark.parametrize("rotation", ROTATIONS)
def test_png_sheet_outlines_the_square(tmp_path: Path, rotation: int) -> None:
    video = tmp_path / "sq.mp4"
    ev = _evidence(square_video(video, rotation=rotation), 2.5)  # square away from edges
    out = annotate(video, _result([ev]), tmp_path / "ev.png", width=1200)
    sheet = Image.open(out).convert("RGB")
    dw, dh = display_size(rotation)
    pw, (left,) = panel_slots(1200, 1)  # one panel, inside the sheet's gap
    x1, y1, x2, y2 = pixel_box(ev.box_display_normalized, (pw, round(dh * pw / dw)))
    x1, x2 = x1 + left, x2 + left
    top = HEADER_HEIGHT
    colour = colour_for("square")
    mid_x, mid_y = (x1 + x2) // 2, top + (y1 + y2) // 2
    inside_outline = 2  # the outline is >= 6 px wide at this size, drawn inward
    for x, y in [(x1 + inside_outline, mid_y), (x2 - inside_outline, mid_y),
                 (mid_x, top + y2 - inside_outline)]:
        assert _near(sheet.getpixel((x, y)), colour), (x, y)  # type: ignore[arg-type]
    assert _near(sheet.getpixel((mid_x, mid_y)), (255, 255, 255))  # type: ignore[arg-type]
    assert not _near(sheet.getpixel((x1 - 30, mid_y)), colour)  # type: ignore[arg-type]


def test_gif_clip_and_timeline(tmp_path: Path) -> None:
    video = tmp_path / "sq.mp4"
    truth = square_video(video)
    items = [_evidence(truth, 0.5), _evidence(truth, 2.0)]
    out = annotate(video, _result(items), tmp_path / "ev.gif", fps=4, width=640)
    gif = Image.open(out)
    assert gif.format == "GIF" and gif.n_frames == 12  # 3 s at 4 fps
    assert gif.size[0] == 320  # never upscaled beyond the original


def test_unsupported_format_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="png"):
        annotate(tmp_path / "x.mp4", _result([]), tmp_path / "ev.mp4")


def test_no_evidence_still_writes_a_picture(tmp_path: Path) -> None:
    video = tmp_path / "sq.mp4"
    square_video(video)
    out = annotate(video, _result([]), tmp_path / "none.png")
    assert Image.open(out).size[0] == 1200


def test_group_by_time(tmp_path: Path) -> None:
    truth = square_video(tmp_path / "sq.mp4")
    items = [_evidence(truth, t) for t in (2.0, 0.5, 2.02, 1.0)]
    groups = group_by_time(items)
    assert [[e.time for e in g] for g in groups] == [[0.5], [1.0], [2.0, 2.02]]
