"""The sampler's seek arithmetic and its parallel plan, as tables (no video needed)."""

from __future__ import annotations

from fractions import Fraction

import pytest

from service.video.decode import plan_ranges
from service.video.index import keyframes_from_entries, seek_ts, snap_to_frames

# Measured on a generated VFR H.264 MP4 with B-frames (time base 1/16000): the index
# holds decode timestamps; each keyframe's decode-to-display offset differs.
INDEX_DTS = [-2272, 29728, 58400, 93872, 120672]
KEY_PTS = [0, 32000, 60672, 95600, 121872]
TB = Fraction(1, 16000)


def test_keyframe_times_use_each_keyframes_own_pts() -> None:
    keys = keyframes_from_entries(INDEX_DTS, INDEX_DTS[0], 0, TB, KEY_PTS)
    assert [k.time for k in keys] == [p / 16000 for p in KEY_PTS]
    # the seek lands by the index, shifted once (first entry -> first pts): 2272 here
    assert [k.seek_ts for k in keys] == [d + 2272 for d in INDEX_DTS]


def test_constant_offset_would_misplace_keyframes() -> None:
    # What one constant offset gives (the old arithmetic): keyframe 3 at 6.009 s
    # instead of 5.975 s; a target at 5.99 s would then seek to keyframe 2 and decode
    # a whole extra GOP.
    believed = keyframes_from_entries(INDEX_DTS, INDEX_DTS[0], 0, TB)
    assert believed[3].time == pytest.approx(6.009)
    assert believed[3].time - KEY_PTS[3] / 16000 == pytest.approx(0.034)


@pytest.mark.parametrize(("index_ts", "origin", "first_pts", "expected"), [
    (0, 0, 0, 0),            # MKV cues (pts) starting at 0: unchanged
    (3003, 0, 1001, 4004),   # a stream whose first frame is at pts 1001
    (-2272, -2272, 0, 0),    # MP4 with B-frames: first dts negative, first pts 0
    (93872, -2272, 0, 96144),
])
def test_seek_ts(index_ts: int, origin: int, first_pts: int, expected: int) -> None:
    assert seek_ts(index_ts, origin, first_pts) == expected


def test_unknown_pts_falls_back_to_index_time() -> None:
    keys = keyframes_from_entries([0, 30], 0, 0, Fraction(1, 30), [0, None])
    assert [k.time for k in keys] == [0.0, 1.0]


def test_snap_to_frames_takes_the_nearest() -> None:
    frames = [0.0, 0.033, 0.1, 0.2, 0.241]
    assert snap_to_frames(frames, [0.0, 0.06, 0.07, 0.15, 5.0]) == [0.0, 0.033, 0.1, 0.1,
                                                                     0.241]


# (keyframe times, targets, workers, expected groups) -- cuts only where a seek happens
PLANS = [
    # six targets over four GOPs, two workers: cut between GOP 1 and GOP 2 (balanced)
    ([0.0, 10.0, 20.0, 30.0], [1.0, 2.0, 11.0, 21.0, 22.0, 31.0], 2,
     [[1.0, 2.0, 11.0], [21.0, 22.0, 31.0]]),
    # all targets in one GOP: no free cut, one group whatever the workers
    ([0.0, 10.0], [1.0, 5.0, 9.0], 4, [[1.0, 5.0, 9.0]]),
    # one worker: one group
    ([0.0, 10.0, 20.0], [1.0, 11.0, 21.0], 1, [[1.0, 11.0, 21.0]]),
    # more workers than GOPs: one group per GOP at most
    ([0.0, 10.0, 20.0], [1.0, 11.0, 21.0], 8, [[1.0], [11.0], [21.0]]),
    # targets in the same GOP stay together even when the work is lopsided
    ([0.0, 10.0], [1.0, 2.0, 3.0, 19.0], 2, [[1.0, 2.0, 3.0], [19.0]]),
]


@pytest.mark.parametrize(("keys", "targets", "workers", "groups"), PLANS)
def test_plan_ranges(keys: list[float], targets: list[float], workers: int,
                     groups: list[list[float]]) -> None:
    plan = plan_ranges(keys, targets, 0.01, workers)
    assert plan == groups
    assert [t for g in plan for t in g] == targets  # every target once, in order
