"""Generated test videos for the client tests: a white square moving on a dark field.

`square_box(t)` is the square's true box in CODED pixels at time `t`; a video written
with `rotation` carries a display matrix, so players (and `service.video`) show it
turned `rotation` degrees clockwise (the convention of service.grounding.geometry).
"""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np

WIDTH, HEIGHT, FPS, SIDE = 320, 240, 10, 40


def square_box(t: float) -> tuple[float, float, float, float]:
    """Coded-pixel box of the square at time `t` (moves right 80 px/s, down 30 px/s)."""
    x = 20 + 80 * t
    y = 30 + 30 * t
    return (x, y, x + SIDE, y + SIDE)


def write_square_video(path: Path, seconds: float = 3.0, rotation: int = 0) -> Path:
    """An H.264 MP4 of the moving square; `rotation` is clockwise display degrees."""
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=FPS)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "yuv420p"
        stream.options = {"g": "10", "preset": "ultrafast"}
        if rotation:
            stream.set_display_rotation((180 - rotation) % 360 - 180)  # PyAV's angle is ccw
        for i in range(round(seconds * FPS)):
            frame = av.VideoFrame.from_ndarray(_picture(i / FPS), format="rgb24")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            out.mux(stream.encode(frame))
        out.mux(stream.encode(None))
    return path


def _picture(t: float) -> np.ndarray:
    img = np.full((HEIGHT, WIDTH, 3), 30, dtype=np.uint8)
    img[:, :, 2] = 60  # a dark blue field: the square is the only bright thing
    x1, y1, x2, y2 = (round(v) for v in square_box(t))
    img[y1:y2, x1:x2] = 255
    return img


def bright_bbox(image: object, threshold: int = 200) -> tuple[int, int, int, int] | None:
    """Box (x1, y1, x2, y2 exclusive) of pixels brighter than `threshold` in all channels."""
    arr = np.asarray(image)
    mask = (arr[:, :, :3] > threshold).all(axis=2)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
