"""Generated test videos for the client tests, through the shared `service.video.synth`.

`square_video` writes a white square moving on black (320x240, 10 fps) and returns
its truth (`truth.display_box_at(t)` is where a player shows the square at time t);
`bright_bbox` finds the square in a decoded picture.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from service.video.synth import MovingSquareTruth, write_moving_square

WIDTH, HEIGHT, FPS = 320, 240, 10.0


def square_video(path: Path, *, seconds: float = 3.0, rotation: int = 0) -> MovingSquareTruth:
    return write_moving_square(path, width=WIDTH, height=HEIGHT, fps=FPS, duration=seconds,
                               rotation=rotation, square_size=40, color=(255, 255, 255))


def display_size(rotation: int) -> tuple[int, int]:
    return (HEIGHT, WIDTH) if rotation % 180 == 90 else (WIDTH, HEIGHT)


def bright_bbox(image: object, threshold: int = 200) -> tuple[int, int, int, int] | None:
    """Box (x1, y1, x2, y2 exclusive) of pixels brighter than `threshold` in all channels."""
    arr = np.asarray(image)
    mask = (arr[:, :, :3] > threshold).all(axis=2)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (int(xs.min()), int(ys.min()), int(xs.max()) + 1, int(ys.max()) + 1)
