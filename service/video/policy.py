"""Which frames to feed the model, and at what size (SPEC section 1).

Owns `FramePolicy` (request options: frame count, fps, pixel budget), `choose_times`
and `fit_size`. Pure: no PyAV, no I/O.

Rules, in order:
- explicit `fps`: one frame every 1/fps seconds from 0, at most `num_frames` (when
  given) and never more than `max_frames`; when the cap bites the 1/fps grid is
  thinned uniformly (its first and last point kept, the rest evenly picked from it),
  so every time stays on the grid. `fps=1, num_frames=16` is the paper's V-STAR
  setting "up to 16 frames at 1 fps": a 10 s video gets 10 frames, a 100 s one 16;
- video shorter than `short_video_s`: `short_fps` frames per second, at least
  `min_frames` (the training recipe: under 8 s, 2 fps, at least 4);
- otherwise `num_frames` (`DEFAULT_NUM_FRAMES` = 16 when None) frames uniformly
  spaced by frame index over all frames (index linspace, rounded), the training recipe.
Never more frames than the video has; times are sorted, unique, inside the video.

`grid="vstar-release"` (with `fps`) reproduces the release's V-STAR script instead of the
exact 1/fps grid: every `int(video_fps / fps)`-th frame from 0, at most `num_frames` of
them, or, when `int(duration * fps)` exceeds `num_frames`, `numpy.linspace(0, n - 1,
num_frames, dtype=int)` (floored) over all frames (golden table
tests/golden/prompts_vstar.jsonl, `frame_times`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, Protocol

FACTOR = 28
MAX_ASPECT = 200.0
DEFAULT_NUM_FRAMES = 16


class _Timing(Protocol):
    @property
    def duration(self) -> float: ...
    @property
    def fps(self) -> float: ...
    @property
    def frame_count(self) -> int: ...


# The training recipe's frame defaults (SPEC section 1), defined here once: the settings,
# the training config and the tiny checkpoint's processor read them from this module.
DEFAULT_NUM_FRAMES = 16
SHORT_VIDEO_S = 8.0              # shorter videos are sampled at SHORT_FPS ...
SHORT_FPS = 2.0
MIN_FRAMES = 4                   # ... with at least this many frames
MIN_PIXELS = 4 * 28 * 28         # 3,136: Qwen2.5-VL's smallest image
MAX_PIXELS = 128 * 28 * 28       # 100,352 per frame (a 1280x720 video becomes 420x224)


@dataclass(frozen=True)
class FramePolicy:
    """`num_frames`: the frame count; with `fps`, the cap on the count (None: 16
    without `fps`, only `max_frames` with it). `grid`: how an `fps` grid is laid out
    (module docstring)."""

    num_frames: int | None = None
    fps: float | None = None
    short_video_s: float = SHORT_VIDEO_S
    short_fps: float = SHORT_FPS
    min_frames: int = MIN_FRAMES
    max_frames: int = 256
    min_pixels: int = MIN_PIXELS
    max_pixels: int = MAX_PIXELS
    grid: Literal["exact", "vstar-release"] = "exact"

    def __post_init__(self) -> None:
        if self.num_frames is not None and self.num_frames < 1:
            raise ValueError(f"num_frames must be >= 1, got {self.num_frames}")
        if self.fps is not None and not self.fps > 0:
            raise ValueError(f"fps must be > 0, got {self.fps}")
        if not 1 <= self.min_frames <= self.max_frames:
            raise ValueError(f"need 1 <= min_frames <= max_frames, got "
                             f"{self.min_frames} and {self.max_frames}")
        if not FACTOR * FACTOR <= self.min_pixels <= self.max_pixels:
            raise ValueError(f"need {FACTOR * FACTOR} <= min_pixels <= max_pixels, got "
                             f"{self.min_pixels} and {self.max_pixels}")


def choose_times(info: _Timing, policy: FramePolicy) -> list[float]:
    """Frame times (seconds from the first frame) to sample, sorted and unique."""
    total = max(1, info.frame_count)
    if policy.fps is not None and policy.grid == "vstar-release":
        cap = min(policy.num_frames or policy.max_frames, policy.max_frames)
        indices = _vstar_release_indices(total, info.fps, policy.fps, cap)
    elif policy.fps is not None:
        step = info.fps / policy.fps  # in frames
        grid = [round(k * step) for k in range(math.ceil(total / step))]
        cap = min(policy.num_frames or policy.max_frames, policy.max_frames)
        indices = _thin(grid, cap)
    else:
        indices = _linspace_indices(total, _uniform_count(info, policy))
    indices = sorted({min(i, total - 1) for i in indices})
    return [i / info.fps for i in indices]


def _vstar_release_indices(total: int, video_fps: float, fps: float, cap: int) -> list[int]:
    """The release's V-STAR frame indices (module docstring)."""
    if int(total / video_fps * fps) > cap:
        if cap <= 1:
            return [0]
        step = (total - 1) / (cap - 1)
        return [int(k * step) for k in range(cap - 1)] + [total - 1]
    return list(range(0, total, max(1, int(video_fps / fps))))[:cap]


def _uniform_count(info: _Timing, policy: FramePolicy) -> int:
    if info.duration < policy.short_video_s:
        wanted = max(policy.min_frames, math.floor(info.duration * policy.short_fps))
    else:
        wanted = policy.num_frames or DEFAULT_NUM_FRAMES
    return max(1, min(wanted, policy.max_frames, max(1, info.frame_count)))


def _thin(grid: list[int], cap: int) -> list[int]:
    """At most `cap` points of `grid`, picked uniformly (first and last kept)."""
    if len(grid) <= cap:
        return grid
    return [grid[i] for i in _linspace_indices(len(grid), cap)]


def _linspace_indices(total: int, n: int) -> list[int]:
    """Like `numpy.linspace(0, total - 1, n).round()`: first and last frame included."""
    if n <= 1:
        return [0]
    return [round(k * (total - 1) / (n - 1)) for k in range(n)]


def fit_size(
    width: int, height: int, min_pixels: int, max_pixels: int, factor: int = FACTOR
) -> tuple[int, int]:
    """Qwen2.5-VL `smart_resize`: sides multiples of `factor`, area within the budget.

    Returns `(width, height)`. 1280x720 with max 100,352 px -> (420, 224).
    """
    if max(width, height) / max(1, min(width, height)) > MAX_ASPECT:
        raise ValueError(f"aspect ratio of {width}x{height} exceeds {MAX_ASPECT:g}:1")
    h_bar = max(factor, _round_to(height, factor))
    w_bar = max(factor, _round_to(width, factor))
    if h_bar * w_bar > max_pixels:
        beta = math.sqrt(height * width / max_pixels)
        h_bar = max(factor, math.floor(height / beta / factor) * factor)
        w_bar = max(factor, math.floor(width / beta / factor) * factor)
    elif h_bar * w_bar < min_pixels:
        beta = math.sqrt(min_pixels / (height * width))
        h_bar = math.ceil(height * beta / factor) * factor
        w_bar = math.ceil(width * beta / factor) * factor
    return w_bar, h_bar


def _round_to(x: int, factor: int) -> int:
    return round(x / factor) * factor
