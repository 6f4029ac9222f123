"""Box and time geometry: IoU, temporal IoU and the coordinate maps of SPEC section 3.

Pure float arithmetic on `Box = (x1, y1, x2, y2)` and `Size = (width, height)`.

Coordinate systems (a box is only meaningful with the system it is in):

- fed:      pixels of the frame as fed to the model (after rotation and resize;
            `FrameSetMeta.fed_size`). The model's `<box>` numbers are in this system.
- display:  pixels of the original video in display orientation
            (`FrameSetMeta.display_size`), i.e. the coded frame after rotation.
- coded / original: pixels of the frame as stored in the file, before rotation
            (`FrameSetMeta.orig_size`). The API reports `box` in this system.
- normalized: any of the above divided by its size, in [0, 1].

ROTATION CONVENTION (the video sampler follows this; it is written here first):

    `rotation` is in {0, 90, 180, 270}: the degrees CLOCKWISE that a player rotates
    the coded frame to show it. The fed frames are already in display orientation.

    PyAV 18 reports the opposite sign: `VideoFrame.rotation` (and the value passed
    to `VideoStream.set_display_rotation`) is `av_display_rotation_get` of the
    display matrix, the angle in degrees COUNTER-clockwise, in [-180, 180]. So:

        rotation = (-frame.rotation) % 360

    Checked with PyAV 18.1 + the ffmpeg 7 command line: a 64x32 clip written with
    `set_display_rotation(90)` reads back `frame.rotation == 90`, and `ffmpeg`
    (autorotate) outputs a 32x64 frame in which the coded top-left corner is at
    the BOTTOM-left, i.e. a 90-degree counter-clockwise turn = `rotation == 270` here.
    (The legacy MP4 `rotate` tag, e.g. `rotate=90` from phones, is clockwise; it
    equals this module's `rotation`. ffprobe 7 prints the display-matrix value,
    counter-clockwise.)

    A coded point (x, y) in a W x H coded frame maps to display as:
        0:   (x, y)                display W x H
        90:  (H - y, x)            display H x W
        180: (W - x, H - y)        display W x H
        270: (y, W - x)            display H x W

Invariants:
- Every map here is affine per axis (scale, swap, flip), so round trips are exact up
  to float rounding (property-tested to 1e-6).
- Maps return boxes with x1 <= x2 and y1 <= y2 when given such boxes.
- Nothing here clips except `clip_box`; nothing raises except on an unsupported
  rotation or a zero size (programming errors, not model output).
"""

from __future__ import annotations

from service.grounding.types import Box, FrameSetMeta, Size

ROTATIONS = (0, 90, 180, 270)


def box_area(box: Box) -> float:
    """Area of a box; 0 for a degenerate or inverted box."""
    x1, y1, x2, y2 = box
    return max(0.0, x2 - x1) * max(0.0, y2 - y1)


def box_iou(a: Box, b: Box) -> float:
    """Intersection over union of two xyxy boxes; 0 when the union is empty."""
    ix1, iy1 = max(a[0], b[0]), max(a[1], b[1])
    ix2, iy2 = min(a[2], b[2]), min(a[3], b[3])
    inter = box_area((ix1, iy1, ix2, iy2))
    union = box_area(a) + box_area(b) - inter
    return inter / union if union > 0 else 0.0


def temporal_iou(a: tuple[float, float], b: tuple[float, float]) -> float:
    """SPEC section 6: max(0, min(e1,e2) - max(s1,s2)) / (max(e1,e2) - min(s1,s2)).

    0 when the hull is empty (two identical instants count as 0, as in V-STaR's code).
    """
    inter = max(0.0, min(a[1], b[1]) - max(a[0], b[0]))
    hull = max(a[1], b[1]) - min(a[0], b[0])
    return inter / hull if hull > 0 else 0.0


def clip_box(box: Box, size: Size) -> Box | None:
    """Clip a box to [0, W] x [0, H]; None when nothing of positive area is left."""
    w, h = size
    x1, y1 = min(max(box[0], 0.0), w), min(max(box[1], 0.0), h)
    x2, y2 = min(max(box[2], 0.0), w), min(max(box[3], 0.0), h)
    if x2 <= x1 or y2 <= y1:
        return None
    return (float(x1), float(y1), float(x2), float(y2))


def scale_box(box: Box, sx: float, sy: float) -> Box:
    """Multiply x coordinates by `sx` and y coordinates by `sy`."""
    return (box[0] * sx, box[1] * sy, box[2] * sx, box[3] * sy)


def normalize_box(box: Box, size: Size) -> Box:
    """Pixels of a frame of `size` -> [0, 1] of that frame."""
    w, h = _checked(size)
    return scale_box(box, 1.0 / w, 1.0 / h)


def denormalize_box(box: Box, size: Size) -> Box:
    """[0, 1] of a frame -> pixels of a frame of `size`."""
    w, h = _checked(size)
    return scale_box(box, float(w), float(h))


def fed_to_display(box: Box, fed_size: Size, display_size: Size) -> Box:
    """Fed-frame pixels -> original display-orientation pixels (a per-axis scale)."""
    fw, fh = _checked(fed_size)
    dw, dh = _checked(display_size)
    return scale_box(box, dw / fw, dh / fh)


def display_to_fed(box: Box, display_size: Size, fed_size: Size) -> Box:
    """Inverse of `fed_to_display`."""
    return fed_to_display(box, display_size, fed_size)


def coded_to_display(box: Box, coded_size: Size, rotation: int) -> Box:
    """Coded-frame pixels -> display pixels, rotating `rotation` degrees clockwise."""
    w, h = coded_size
    x1, y1, x2, y2 = box
    r = _checked_rotation(rotation)
    if r == 90:
        return (h - y2, x1, h - y1, x2)
    if r == 180:
        return (w - x2, h - y2, w - x1, h - y1)
    if r == 270:
        return (y1, w - x2, y2, w - x1)
    return (x1, y1, x2, y2)


def display_to_coded(box: Box, display_size: Size, rotation: int) -> Box:
    """Display pixels -> coded-frame pixels: undo a `rotation`-degree clockwise turn.

    Undoing a clockwise turn by r is a clockwise turn by 360 - r of the display frame.
    """
    r = _checked_rotation(rotation)
    return coded_to_display(box, display_size, (360 - r) % 360)


def fed_to_original(box: Box, meta: FrameSetMeta) -> Box:
    """Fed-frame pixels -> original coded-frame pixels (scale, then undo rotation)."""
    display = fed_to_display(box, meta.fed_size, meta.display_size)
    return display_to_coded(display, meta.display_size, meta.rotation)


def original_to_fed(box: Box, meta: FrameSetMeta) -> Box:
    """Original coded-frame pixels -> fed-frame pixels (inverse of `fed_to_original`)."""
    display = coded_to_display(box, meta.orig_size, meta.rotation)
    return display_to_fed(display, meta.display_size, meta.fed_size)


def _checked(size: Size) -> Size:
    if size[0] <= 0 or size[1] <= 0:
        raise ValueError(f"size must be positive, got {size}")
    return size


def _checked_rotation(rotation: int) -> int:
    r = rotation % 360
    if r not in ROTATIONS:
        raise ValueError(f"rotation must be a multiple of 90 degrees, got {rotation}")
    return r
