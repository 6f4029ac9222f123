"""Finding the coloured shapes of our synthetic videos in an RGB frame (numpy only).

Owns `PALETTE` (colour names -> RGB), `Sighting` and `find_shapes`.

Rules:
- A pixel belongs to the palette colour nearest to it when that distance is under
  `MAX_DIST` (compression and resizing blur colours a little; the palette colours
  are far apart) and the pixel is not greyish (backgrounds: black, or grey noise).
- One sighting per colour with at least `MIN_PIXELS` pixels: the bounding box of its
  pixels (pixel edges, like the synth's truth boxes). A scene with two shapes of one
  colour is not supported (our scenes never have one).
- Shape from the fill ratio (pixels / box area): >= 0.88 a rectangle ("square" when
  the sides are within 25% of each other), else an ellipse ("circle" likewise).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image

from service.grounding.types import Box

PALETTE: dict[str, tuple[int, int, int]] = {
    "red": (255, 0, 0), "green": (0, 200, 0), "blue": (0, 0, 255),
    "yellow": (255, 255, 0), "cyan": (0, 255, 255), "magenta": (255, 0, 255),
    "orange": (255, 140, 0), "white": (255, 255, 255),
}
MAX_DIST = 70.0
MIN_PIXELS = 4
_GREY_SPREAD = 40  # max(rgb) - min(rgb) under this: grey-ish, unless it is white
SHAPE_KINDS = {"square": "rect", "rectangle": "rect", "box": "rect",
               "circle": "ellipse", "ellipse": "ellipse", "ball": "ellipse",
               "disc": "ellipse", "shape": "any", "object": "any"}


@dataclass(frozen=True)
class Sighting:
    colour: str
    shape: str           # square, rectangle, circle, ellipse
    box: Box             # pixel edges in the image's pixels
    pixels: int

    @property
    def kind(self) -> str:
        return "rect" if self.shape in ("square", "rectangle") else "ellipse"

    @property
    def name(self) -> str:
        return f"{self.colour} {self.shape}"

    def matches(self, colour: str | None, shape_word: str | None) -> bool:
        if colour is not None and colour != self.colour:
            return False
        want = SHAPE_KINDS.get(shape_word or "shape", "any")
        return want in ("any", self.kind)


_COLOURS = np.array(list(PALETTE.values()), np.int32)
_WHITE = list(PALETTE).index("white")


def _labels(rgb: np.ndarray) -> np.ndarray:
    """Per pixel: the palette index of its colour, or -1 (background / unclear).

    Only colourful or near-white pixels are compared with the palette (the rest is
    background), which keeps a mostly empty frame cheap."""
    px = rgb.astype(np.int32)
    spread = px.max(-1) - px.min(-1)
    candidate = (spread >= _GREY_SPREAD) | (px.min(-1) > 255 - MAX_DIST)
    out = np.full(rgb.shape[:2], -1, np.int64)
    sel = px[candidate]                                   # (k, 3)
    if len(sel):
        dist = np.sqrt(((sel[:, None, :] - _COLOURS[None, :, :]) ** 2).sum(-1))
        best = dist.argmin(-1)
        grey = spread[candidate] < _GREY_SPREAD
        ok = (dist.min(-1) < MAX_DIST) & (~grey | (best == _WHITE))
        out[candidate] = np.where(ok, best, -1)
    return out


def find_shapes(image: Image.Image) -> list[Sighting]:
    """Every palette-coloured shape in the image, largest first."""
    labels = _labels(np.asarray(image.convert("RGB")))
    out = []
    for idx, colour in enumerate(PALETTE):
        ys, xs = np.nonzero(labels == idx)
        if len(xs) < MIN_PIXELS:
            continue
        x1, y1, x2, y2 = int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1
        w, h = x2 - x1, y2 - y1
        fill = len(xs) / (w * h)
        even = 0.8 <= w / h <= 1.25
        shape = ("square" if even else "rectangle") if fill >= 0.88 else (
            "circle" if even else "ellipse")
        out.append(Sighting(colour, shape, (float(x1), float(y1), float(x2), float(y2)),
                            len(xs)))
    return sorted(out, key=lambda s: -s.pixels)


def covers(image: Image.Image, colour: str | None, shape_word: str | None,
           share: float = 0.25) -> bool:
    """Whether a matching shape fills at least `share` of the image (a crop)."""
    area = image.width * image.height
    return any(s.matches(colour, shape_word) and s.pixels >= share * area
               for s in find_shapes(image))
