"""Exact decode floors on variable frame rate files, and parallel ranges that change
nothing but the wall time (same frames, same pixels, same work)."""

from __future__ import annotations

import numpy as np
import pytest

from service.video.decode import decode_all_at, decode_at
from service.video.index import decode_floor, scan_packets
from service.video.policy import FramePolicy, choose_times, fit_size
from service.video.probe import probe_video
from tests.integration.video.test_sampler import Videos

FED = (112, 84)


def test_probe_keyframe_times_are_the_keyframes_own(videos: Videos) -> None:
    path, _ = videos["vfr_gop.mp4"]
    info = probe_video(path)
    scan = scan_packets(path)
    assert info.variable_frame_rate and len(info.keyframes) > 10
    assert info.keyframe_times == pytest.approx(scan.keyframe_times, abs=1e-9)


@pytest.mark.parametrize("name", ["vfr_gop.mp4", "vfr.mp4", "long_gop.mp4", "short_gop.mp4"])
@pytest.mark.parametrize("count", [16, 64, 256])
@pytest.mark.parametrize("workers", [1, 2])
def test_decoded_equals_floor(videos: Videos, name: str, count: int, workers: int) -> None:
    path, _ = videos[name]
    info = probe_video(path)
    times = choose_times(info, FramePolicy(num_frames=count, short_video_s=0))
    frames, stats = decode_at(path, info, times, FED, workers=workers)
    assert len(frames) == len(times)
    assert stats.decoded_frames == decode_floor(scan_packets(path), [f.time for f in frames])


@pytest.mark.parametrize("name", ["vfr_gop.mp4", "short_gop.mp4", "long_gop.mp4"])
def test_parallel_same_frames_as_sequential_and_decode_all(videos: Videos, name: str) -> None:
    path, _ = videos[name]
    info = probe_video(path)
    times = choose_times(info, FramePolicy(num_frames=64, short_video_s=0))
    fed = fit_size(*info.display_size, 28 * 28 * 4, 128 * 28 * 28)
    one, one_stats = decode_at(path, info, times, fed, workers=1)
    many, many_stats = decode_at(path, info, times, fed, workers=3)
    ref, _ = decode_all_at(path, info, times, fed)
    assert [f.time for f in many] == [f.time for f in one] == [f.time for f in ref]
    for a, b, c in zip(one, many, ref, strict=True):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
        assert np.array_equal(np.asarray(a.image), np.asarray(c.image))
    assert many_stats.decoded_frames == one_stats.decoded_frames  # spread, not repeated
