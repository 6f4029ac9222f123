"""Table tests of the search's pure planning (service.inference.search.windows)."""

from __future__ import annotations

import pytest

from service.inference.search.types import ChunkScore, Window
from service.inference.search.windows import (
    context_times,
    keyframes_dense,
    merge_windows,
    plan_chunks,
    select_windows,
    snap_to_keyframes,
    window_around,
    zoom_times,
)


@pytest.mark.parametrize(("duration", "chunk_s", "m", "bounds", "times0"), [
    # exact tiling: 3 chunks of 10 s, frames at 2.5 s spacing centred in each
    (30.0, 10.0, 4, [(0, 10), (10, 20), (20, 30)], (1.25, 3.75, 6.25, 8.75)),
    # a short last chunk keeps the spacing: 5 s left -> 2 frames at 2.5 s
    (25.0, 10.0, 4, [(0, 10), (10, 20), (20, 25)], (1.25, 3.75, 6.25, 8.75)),
    # a video shorter than one chunk is one chunk
    (4.0, 10.0, 4, [(0, 4)], (1.25, 3.75)),
    # a sliver of a last chunk still gets one frame
    (20.1, 10.0, 4, [(0, 10), (10, 20), (20, 20.1)], (1.25, 3.75, 6.25, 8.75)),
])
def test_plan_chunks_tiles_the_video(duration, chunk_s, m, bounds, times0):
    chunks = plan_chunks(duration, chunk_s, m)
    assert [(c.start, c.end) for c in chunks] == [tuple(map(float, b)) for b in bounds]
    if times0 is not None and duration >= chunk_s:
        assert chunks[0].times == times0
    for c in chunks:
        assert c.times and all(c.start <= t < c.end for t in c.times)
        gaps = [b - a for a, b in zip(c.times, c.times[1:], strict=False)]
        assert all(g == pytest.approx(gaps[0], abs=2e-3) for g in gaps)


def test_plan_chunks_short_last_chunk_frame_count():
    chunks = plan_chunks(25.0, 10.0, 4)
    assert chunks[-1].times == (21.25, 23.75)   # same 2.5 s spacing as the others
    assert plan_chunks(20.1, 10.0, 4)[-1].times == (20.05,)
    assert plan_chunks(0.0, 10.0, 4) == ()      # nothing to scan


@pytest.mark.parametrize(("times", "keys", "tol", "bounds", "want"), [
    # each time moves to its nearest keyframe within tol
    ([1.0, 3.0], [0.0, 2.0, 4.0], 1.0, (0, 10), (0.0, 2.0)),       # ties go to the earlier
    ([1.2, 3.4], [0.0, 2.0, 4.0], 1.0, (0, 10), (2.0, 4.0)),
    # out of tolerance: the time stays (decoding from its keyframe costs more, but the
    # scan's spacing is kept)
    ([5.0], [0.0, 10.0], 1.0, (0, 10), (5.0,)),
    # never across the chunk's bounds: the keyframe at 10.0 belongs to the next chunk
    ([9.5], [0.0, 10.0], 1.0, (0, 10), (9.5,)),
    # two times near one keyframe: the first takes it, the second stays (no frame lost)
    ([1.9, 2.1], [2.0], 0.5, (0, 10), (2.0, 2.1)),
    # no keyframes known: unchanged
    ([1.0, 2.0], [], 1.0, (0, 10), (1.0, 2.0)),
])
def test_snap_to_keyframes(times, keys, tol, bounds, want):
    assert snap_to_keyframes(times, keys, tol, bounds) == want


@pytest.mark.parametrize(("cited", "pad", "duration", "want"), [
    ([50.0], 6.0, 100.0, (44.0, 56.0)),          # centred on one citation
    ([50.0, 53.0], 6.0, 100.0, (44.0, 59.0)),    # spans all citations, padded
    ([2.0], 6.0, 100.0, (0.0, 12.0)),            # shifted right at the start, not shrunk
    ([99.0], 6.0, 100.0, (88.0, 100.0)),         # shifted left at the end
    ([5.0], 6.0, 8.0, (0.0, 8.0)),               # never longer than the video
])
def test_window_around(cited, pad, duration, want):
    assert window_around(cited, pad, duration) == want


W = Window


@pytest.mark.parametrize(("windows", "gap", "want"), [
    ([], 0.0, ()),
    ([W(0, 10, 1)], 0.0, (W(0, 10, 1),)),
    # overlapping: one window, best score kept
    ([W(0, 10, 0.2), W(5, 15, 0.9)], 0.0, (W(0, 15, 0.9),)),
    # touching counts as overlapping
    ([W(0, 10, 0.5), W(10, 20, 0.4)], 0.0, (W(0, 20, 0.5),)),
    # apart: kept apart, sorted by start whatever the input order
    ([W(30, 40, 1), W(0, 10, 1)], 0.0, (W(0, 10, 1), W(30, 40, 1))),
    # within the gap: merged
    ([W(0, 10, 1), W(12, 20, 0.3)], 3.0, (W(0, 20, 1),)),
    # one window inside another
    ([W(0, 30, 0.1), W(10, 20, 0.8)], 0.0, (W(0, 30, 0.8),)),
])
def test_merge_windows(windows, gap, want):
    assert merge_windows(windows, gap) == want


def C(start, score, *cited, end=None):
    return ChunkScore(start, end if end is not None else start + 32.0, score, tuple(cited))


@pytest.mark.parametrize(("chunks", "k", "want"), [
    # nothing scored: no window (the runner falls back to uniform)
    ([C(0, 0.0), C(32, 0.0)], 2, ()),
    # the best chunk's citations, padded by window_s / 2 = 6 s
    ([C(0, 0.2, 10.0), C(32, 1.0, 40.0, 42.0)], 1, (W(34, 48, 1.0),)),
    # k = 2: the two best, best first
    ([C(0, 0.2, 10.0), C(32, 1.0, 40.0), C(64, 0.6, 70.0)], 2,
     (W(34, 46, 1.0), W(64, 76, 0.6))),
    # a chunk that cited nothing but scored (verifier weight) is zoomed at its middle
    ([C(64, 0.5)], 1, (W(74, 86, 0.5),)),
    # neighbours citing the same event across a chunk boundary merge into one window,
    # so the second window goes to the next distinct place
    ([C(0, 1.0, 31.0), C(32, 0.9, 33.0), C(96, 0.3, 100.0)], 2,
     (W(25, 39, 1.0), W(94, 106, 0.3))),
])
def test_select_windows(chunks, k, want):
    assert select_windows(chunks, k, 12.0, 200.0) == want


@pytest.mark.parametrize(("windows", "total", "want"), [
    ([], 8, ()),
    ([W(0, 4, 1)], 4, (0.5, 1.5, 2.5, 3.5)),
    # split in proportion to length: 12 s and 4 s get 6 and 2 of 8
    ([W(0, 12, 1), W(20, 24, 1)], 8, (1.0, 3.0, 5.0, 7.0, 9.0, 11.0, 21.0, 23.0)),
    # fewer frames than windows: one each anyway
    ([W(0, 4, 1), W(10, 14, 1)], 1, (2.0, 12.0)),
])
def test_zoom_times(windows, total, want):
    assert zoom_times(windows, total) == want


@pytest.mark.parametrize(("available", "k", "exclude", "want"), [
    ([0, 10, 20, 30, 40, 50, 60, 70], 4, [], (0, 20, 40, 60)),
    ([0, 10, 20, 30, 40, 50, 60, 70], 4, [W(15, 45, 1)], (0, 10, 60, 70)),
    ([0, 10], 5, [], (0, 10)),          # asks for more than there are: all of them
    ([0, 10, 20], 0, [], ()),
    ([], 3, [], ()),
])
def test_context_times_come_from_the_scan(available, k, exclude, want):
    got = context_times(available, k, exclude)
    assert got == tuple(float(t) for t in want)
    assert set(got) <= set(available)   # never a new frame to decode


@pytest.mark.parametrize(("keys", "spacing", "want"), [
    ([0, 2, 4, 6, 8], 2.0, True),          # a keyframe every scan step: snap
    ([0, 1, 2, 3], 2.0, True),             # denser still
    ([0, 10, 20, 30], 2.0, False),         # long GOP: snapping would open 3 s gaps
    ([0, 2, 4, 6, 30], 2.0, True),         # the median interval decides, not one gap
    ([0], 2.0, False),                     # one keyframe: nothing to go by
    ([], 2.0, False),
])
def test_keyframes_dense(keys, spacing, want):
    assert keyframes_dense([float(k) for k in keys], spacing) is want
