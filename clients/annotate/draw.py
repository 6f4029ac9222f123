"""Drawing evidence with PIL: labelled boxes on a frame, a timeline strip, a sheet.

Pure image functions on SDK result models; no video decoding here (that is
`clients.annotate.render`, through `service.video`).

Invariants:
- Boxes are drawn from `box_display_normalized` scaled by the frame's own size, so a
  frame in display orientation at any resolution gets the box where a player shows it.
- A box's outline lies inside the frame (clamped), and the label never leaves it.
- Colours are stable per object name, so the same object has one colour everywhere.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

from clients.sdk.models import Evidence

PALETTE = (
    (230, 57, 70),
    (42, 157, 143),
    (244, 162, 97),
    (69, 123, 157),
    (155, 93, 229),
    (241, 91, 181),
    (0, 187, 249),
    (254, 228, 64),
)
BACKGROUND = (24, 26, 32)
TEXT = (235, 235, 240)
Font = ImageFont.FreeTypeFont | ImageFont.ImageFont


def colour_for(name: str) -> tuple[int, int, int]:
    """A stable colour per object name."""
    return PALETTE[zlib.crc32(name.encode()) % len(PALETTE)]


@lru_cache(maxsize=8)
def font(size: int) -> Font:
    return ImageFont.load_default(size=size)


def pixel_box(norm: Sequence[float], size: tuple[int, int]) -> tuple[int, int, int, int]:
    """Normalized [x1,y1,x2,y2] -> integer pixels of a `size` frame, clamped inside it."""
    w, h = size
    x1, y1, x2, y2 = (min(max(v, 0.0), 1.0) for v in norm[:4])
    left, right = sorted((round(x1 * w), round(x2 * w)))
    top, bottom = sorted((round(y1 * h), round(y2 * h)))
    return (min(left, w - 1), min(top, h - 1), min(right, w - 1), min(bottom, h - 1))


def draw_boxes(frame: Image.Image, items: Sequence[Evidence]) -> Image.Image:
    """A copy of `frame` with each item's box outlined and labelled `name @ t s`."""
    out = frame.convert("RGB")
    draw = ImageDraw.Draw(out)
    width = max(2, round(min(out.size) / 160))
    for item in items:
        box = pixel_box(item.box_display_normalized, out.size)
        colour = colour_for(item.object)
        draw.rectangle(box, outline=colour, width=width)
        _label(draw, out.size, box, f"{item.object} @ {item.time:.1f}s", colour)
    return out


def _label(
    draw: ImageDraw.ImageDraw,
    size: tuple[int, int],
    box: tuple[int, int, int, int],
    text: str,
    colour: tuple[int, int, int],
) -> None:
    f = font(max(11, round(min(size) / 28)))
    left, top, right, bottom = draw.textbbox((0, 0), text, font=f)
    tw, th = right - left + 8, bottom - top + 6
    x = min(max(box[0], 0), max(size[0] - tw, 0))
    y = box[1] - th if box[1] - th >= 0 else min(box[3], size[1] - th)
    draw.rectangle((x, y, x + tw, y + th), fill=colour)
    draw.text((x + 4 - left, y + 3 - top), text, fill=(0, 0, 0), font=f)


def timeline_strip(
    duration: float,
    items: Sequence[Evidence],
    width: int,
    *,
    height: int = 56,
    playhead: float | None = None,
) -> Image.Image:
    """A bar from 0 to `duration` with one marker per evidence time (and an optional playhead)."""
    strip = Image.new("RGB", (width, height), BACKGROUND)
    draw = ImageDraw.Draw(strip)
    pad, y = 12, height // 2
    draw.line((pad, y, width - pad, y), fill=(90, 94, 110), width=3)
    span = max(duration, 1e-6)
    for item in items:
        x = pad + round((width - 2 * pad) * min(max(item.time / span, 0.0), 1.0))
        draw.ellipse((x - 6, y - 6, x + 6, y + 6), fill=colour_for(item.object))
    if playhead is not None:
        x = pad + round((width - 2 * pad) * min(max(playhead / span, 0.0), 1.0))
        draw.line((x, 4, x, height - 4), fill=TEXT, width=2)
    f = font(11)
    draw.text((pad, height - 14), "0s", fill=TEXT, font=f)
    end = f"{duration:.1f}s"
    draw.text((width - pad - draw.textlength(end, font=f), height - 14), end, fill=TEXT, font=f)
    return strip


PANEL_GAP = 8
HEADER_HEIGHT = 36


def panel_slots(width: int, n_panels: int, columns: int = 3) -> tuple[int, list[int]]:
    """Panel width and each column's x offset, with a gap around every panel."""
    cols = max(1, min(columns, n_panels))
    pw = (width - PANEL_GAP * (cols + 1)) // cols
    return pw, [PANEL_GAP + i * (pw + PANEL_GAP) for i in range(cols)]


def contact_sheet(
    panels: Sequence[Image.Image], timeline: Image.Image, header: str, *, columns: int = 3
) -> Image.Image:
    """Panels in a grid (same width, separated by gaps), a header above, the timeline below."""
    pw, xs = panel_slots(timeline.width, len(panels), columns)
    scaled = [_fit_width(p, pw) for p in panels]
    rows = [scaled[i : i + len(xs)] for i in range(0, len(scaled), len(xs))]
    row_heights = [max(p.height for p in row) + PANEL_GAP for row in rows]
    sheet = Image.new(
        "RGB", (timeline.width, HEADER_HEIGHT + sum(row_heights) + timeline.height), BACKGROUND
    )
    ImageDraw.Draw(sheet).text((12, 10), header, fill=TEXT, font=font(16))
    y = HEADER_HEIGHT
    for row, rh in zip(rows, row_heights, strict=True):
        for x, panel in zip(xs, row, strict=False):
            sheet.paste(panel, (x, y))
        y += rh
    sheet.paste(timeline, (0, y))
    return sheet


def _fit_width(image: Image.Image, width: int) -> Image.Image:
    height = max(1, round(image.height * width / image.width))
    return image.resize((width, height), Image.Resampling.BICUBIC)
