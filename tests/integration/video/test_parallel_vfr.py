"""Exact decode floors on variable frame rate files, and parallel ranges that change
nothing but the wall time (same frames, same pixels, same work)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.video.decode import decode_all_at, decode_at
from service.video.errors import TruncatedVideo
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
    floor = decode_floor(scan_packets(path), [f.time for f in frames])
    assert stats.decoded_frames + stats.skipped_frames == floor
    _, plain = decode_at(path, info, times, FED, workers=workers, skip_nonref=False)
    assert (plain.decoded_frames, plain.skipped_frames) == (floor, 0)


@pytest.mark.parametrize("name", ["vfr_gop.mp4", "vfr.mp4", "long_gop.mp4", "short_gop.mp4"])
@pytest.mark.parametrize("workers", [1, 2])
def test_skipping_non_reference_frames_keeps_every_pixel(videos: Videos, name: str,
                                                         workers: int) -> None:
    # The generated files have B-frames: skipping must drop some, and change no frame.
    path, _ = videos[name]
    info = probe_video(path)
    times = choose_times(info, FramePolicy(num_frames=64, short_video_s=0))
    skip, skip_stats = decode_at(path, info, times, FED, workers=workers)
    plain, plain_stats = decode_at(path, info, times, FED, workers=workers,
                                   skip_nonref=False)
    assert [f.time for f in skip] == [f.time for f in plain]
    for a, b in zip(skip, plain, strict=True):
        assert np.array_equal(np.asarray(a.image), np.asarray(b.image))
    if name != "vfr.mp4":  # (vfr.mp4: 64 targets in 48 frames, nothing non-ref to pass)
        assert skip_stats.skipped_frames > 0
        assert skip_stats.decoded_frames < plain_stats.decoded_frames
    assert skip_stats.packets_sent == plain_stats.packets_sent  # same spans, less work


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


@pytest.mark.parametrize("workers", [1, 2])
def test_cut_off_file_is_truncated_not_undecodable(videos: Videos, tmp_path: Path,
                                                   workers: int) -> None:
    # A file cut after probing (index first, so it still opens): a worker whose range
    # starts past the cut seeks and finds nothing. That is a truncated video, as
    # sequentially, not "no decodable frames".
    from service.video.synth import remux

    path, _ = videos["short_gop.mp4"]
    info = probe_video(path)
    fast = tmp_path / "fast.mp4"
    remux(path, fast, options={"movflags": "+faststart"})
    cut = tmp_path / "cut.mp4"
    data = fast.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    times = choose_times(info, FramePolicy(num_frames=16, short_video_s=0))
    with pytest.raises(TruncatedVideo):
        decode_at(cut, info, times, FED, workers=workers)
