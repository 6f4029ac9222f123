"""The per-video frame cache: byte bound, reuse, and frames equal to the sampler's."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import ImageChops

from service.video.framecache import CachedVideoFrames, FrameCache
from service.video.policy import FramePolicy, fit_size
from service.video.probe import probe_video
from service.video.sampler import sample_video
from service.video.synth import write_moving_square


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fc") / "sq.mp4"
    write_moving_square(path, duration=4.0, fps=10.0, gop=10)
    return path


def frames_of(video: Path, cache: FrameCache) -> CachedVideoFrames:
    info = probe_video(video)
    return CachedVideoFrames(video, info, fit_size(*info.display_size, 784, 128 * 784),
                             cache, "v")


def test_same_pixels_and_times_as_the_sampler(video):
    sampled = sample_video(video, FramePolicy(num_frames=8))
    got = frames_of(video, FrameCache(1 << 24)).frames_at(sampled.frameset.meta.times)
    assert got.meta.times == sampled.frameset.meta.times
    assert got.meta.fed_size == sampled.frameset.meta.fed_size
    for a, b in zip(got.frames, sampled.frameset.frames, strict=True):
        assert ImageChops.difference(a, b).getbbox() is None


def test_second_request_decodes_only_what_is_missing(video):
    cache = FrameCache(1 << 24)
    src = frames_of(video, cache)
    src.frames_at([0.0, 1.0, 2.0])
    decoded, reused = src.counts()
    assert reused == 0 and decoded >= 3
    src.frames_at([1.0, 2.0, 3.0])          # 1.0 and 2.0 are cached
    d2, r2 = src.counts()
    assert r2 == 2 and d2 > decoded
    again = frames_of(video, cache)          # another request, same shared cache
    again.frames_at([0.0, 1.04, 2.0, 3.0])   # 1.04 s is frame 10 like 1.0 s at 10 fps
    assert again.counts() == (0, 4)


def test_bounded_by_bytes_least_recently_used_first(video):
    src = frames_of(video, FrameCache(1 << 24))
    one = src.frames_at([0.0]).frames[0]
    per_frame = one.width * one.height * 3
    cache = FrameCache(3 * per_frame)        # room for three frames
    src = frames_of(video, cache)
    src.frames_at([0.0, 1.0, 2.0])
    src.frames_at([0.0])                     # touch 0.0: now 1.0 is the oldest
    src.frames_at([3.0])                     # evicts 1.0
    assert cache.bytes_used <= 3 * per_frame and len(cache) == 3
    assert cache.stats.evicted == 1
    before = src.counts()[0]
    src.frames_at([0.0, 2.0, 3.0])
    assert src.counts()[0] == before         # all three still cached
    src.frames_at([1.0])
    assert src.counts()[0] > before          # 1.0 had to be decoded again


def test_a_frame_larger_than_the_budget_is_served_not_kept(video):
    cache = FrameCache(10)
    got = frames_of(video, cache).frames_at([0.5])
    assert len(got.frames) == 1 and len(cache) == 0 and cache.bytes_used == 0
