"""Frame selection and resize rules of SPEC section 1 (pure functions)."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from service.video.policy import FramePolicy, choose_times, fit_size


@dataclass(frozen=True)
class Timing:
    duration: float
    fps: float
    frame_count: int


# (width, height, min_pixels, max_pixels, expected (w, h))
FIT = [
    (1280, 720, 3136, 100352, (420, 224)),  # SPEC's own example
    (720, 1280, 3136, 100352, (224, 420)),  # portrait is the transpose
    (1920, 1080, 3136, 100352, (420, 224)),  # same aspect, same budget, same result
    (392, 252, 3136, 100352, (392, 252)),  # already multiples of 28 and in budget: kept
    (100, 60, 3136, 100352, (112, 56)),  # rounded to nearest multiples of 28
    (30, 20, 3136, 100352, (84, 56)),  # below min_pixels: scaled up
    (1280, 720, 3136, 262144, (672, 364)),  # the paper's benchmark budget (floors both)
    (10, 10, 784, 100352, (28, 28)),  # never below one 28x28 patch
]


@pytest.mark.parametrize(("w", "h", "lo", "hi", "want"), FIT)
def test_fit_size(w: int, h: int, lo: int, hi: int, want: tuple[int, int]) -> None:
    got = fit_size(w, h, lo, hi)
    assert got == want
    assert got[0] % 28 == 0 and got[1] % 28 == 0
    assert lo <= got[0] * got[1] <= hi


def test_fit_size_refuses_extreme_aspect() -> None:
    with pytest.raises(ValueError, match="aspect"):
        fit_size(10000, 20, 3136, 100352)


# (video timing, policy, expected times) -- expected written out by hand
TIMES = [
    # 16 frames index-linspace over 300 frames at 30 fps (10 s): indices round(k*299/15)
    (Timing(10.0, 30.0, 300), FramePolicy(),
     [round(k * 299 / 15) / 30 for k in range(16)]),
    # under 8 s: 2 fps -> 6.0 s gives 12 frames over all 180 frames
    (Timing(6.0, 30.0, 180), FramePolicy(),
     [round(k * 179 / 11) / 30 for k in range(12)]),
    # under 8 s but tiny: at least 4 frames
    (Timing(1.0, 30.0, 30), FramePolicy(), [0.0, 10 / 30, 19 / 30, 29 / 30]),
    # fewer frames than asked: every frame once
    (Timing(0.1, 30.0, 3), FramePolicy(), [0.0, 1 / 30, 2 / 30]),
    # explicit fps=1 on 10 s at 25 fps: one frame per second
    (Timing(10.0, 25.0, 250), FramePolicy(fps=1.0), [float(k) for k in range(10)]),
    # explicit fps over max_frames: thinned uniformly to the cap
    (Timing(10.0, 30.0, 300), FramePolicy(fps=30.0, min_frames=1, max_frames=4),
     [0.0, 100 / 30, 199 / 30, 299 / 30]),
    # fps + num_frames, the paper's V-STAR "up to 16 at 1 fps": a 10 s video is under
    # the cap, so it gets its 10 one-second frames
    (Timing(10.0, 25.0, 250), FramePolicy(fps=1.0, num_frames=16),
     [float(k) for k in range(10)]),
    # ... a 100 s video has 100 grid points: thinned to 16, first and last kept, every
    # time still on the 1 s grid: grid[round(k * 99 / 15)]
    (Timing(100.0, 25.0, 2500), FramePolicy(fps=1.0, num_frames=16),
     [float(round(k * 99 / 15)) for k in range(16)]),
    # fps + num_frames with the count over max_frames: max_frames still wins
    (Timing(100.0, 10.0, 1000), FramePolicy(fps=1.0, num_frames=50, min_frames=1,
                                            max_frames=3), [0.0, 50.0, 99.0]),
    # fps alone (num_frames None): only max_frames (256) caps the 300 grid points
    (Timing(300.0, 10.0, 3000), FramePolicy(fps=1.0),
     [float(round(k * 299 / 255)) for k in range(256)]),
    # explicit frame count beyond max_frames: capped
    (Timing(100.0, 10.0, 1000), FramePolicy(num_frames=500, min_frames=1, max_frames=3),
     [0.0, 50.0, 99.9]),
    # short-video rule off: the count is honoured under 8 s; index 24.5 rounds to
    # even (24) exactly as numpy/torch `linspace(...).round()` in the reference code
    (Timing(5.0, 10.0, 50), FramePolicy(num_frames=5, short_video_s=0),
     [0.0, 1.2, 2.4, 3.7, 4.9]),
]


@pytest.mark.parametrize(("timing", "policy", "want"), TIMES)
def test_choose_times(timing: Timing, policy: FramePolicy, want: list[float]) -> None:
    got = choose_times(timing, policy)
    assert got == pytest.approx(want)
    assert got == sorted(set(got))  # sorted, unique
    assert all(0 <= t < timing.duration for t in got)


# (policy kwargs, words the error must contain)
BAD_POLICY = [
    ({"num_frames": 0}, "num_frames"),  # zero frames is meaningless
    ({"fps": 0.0}, "fps"),  # zero rate
    ({"min_frames": 10, "max_frames": 5}, "min_frames"),  # inverted bounds
    ({"min_pixels": 100}, "min_pixels"),  # below one 28x28 patch
    ({"min_pixels": 200000, "max_pixels": 100000}, "max_pixels"),  # inverted budget
]


def test_fps_cap_keeps_times_on_the_fps_grid() -> None:
    # thinning picks from the 1/fps grid, never an arbitrary frame in between
    got = choose_times(Timing(47.3, 29.97, 1418), FramePolicy(fps=2.0, num_frames=16))
    assert len(got) == 16
    step = 29.97 / 2.0
    assert all(abs(t * 29.97 / step - round(t * 29.97 / step)) < 0.04 for t in got)


@pytest.mark.parametrize(("kwargs", "words"), BAD_POLICY)
def test_policy_validates(kwargs: dict[str, float], words: str) -> None:
    with pytest.raises(ValueError, match=words):
        FramePolicy(**kwargs)  # type: ignore[arg-type]
