"""The sampler: a video file in, the frames to feed the model out (SPEC section 1).

Owns `sample_video` and `SampledVideo`. It composes probe (limits, keyframes),
policy (which times, what size) and decode (touch only what is needed) and returns
a `FrameSet` whose metadata says where every frame came from. Synchronous and
CPU-bound: the gateway runs it in a worker thread.

Invariants: frames are RGB, in display orientation, all `meta.fed_size`; `meta.times`
are the decoded frames' own pts (seconds from the first frame); `meta.orig_size` is
the coded size; `meta.frame_indices` are the policy's frame indices (exact for
constant frame rates, nominal for variable ones).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from service.grounding.types import FrameSetMeta
from service.video.decode import decode_at
from service.video.frameset import FrameSet
from service.video.policy import FramePolicy, choose_times, fit_size
from service.video.probe import VideoInfo, VideoLimits, probe_video

DEFAULT_POLICY = FramePolicy()


@dataclass(frozen=True)
class SampleStats:
    decoded_frames: int
    seeks: int
    probe_s: float
    decode_s: float
    skipped_frames: int = 0  # non-reference frames before a target, dropped undecoded


@dataclass(frozen=True)
class SampledVideo:
    frameset: FrameSet
    info: VideoInfo
    stats: SampleStats


def sample_video(
    path: str | Path,
    policy: FramePolicy = DEFAULT_POLICY,
    limits: VideoLimits | None = None,
    info: VideoInfo | None = None,
    *,
    hwaccel: str | None = None,
) -> SampledVideo:
    """Probe (unless `info` is given), choose frame times, decode and resize them.
    `hwaccel`: decode on that PyAV hardware device type (software when unavailable)."""
    t0 = time.perf_counter()
    info = info or probe_video(path, limits)
    t1 = time.perf_counter()
    times = choose_times(info, policy)
    display_w, display_h = info.display_size
    fed = fit_size(display_w, display_h, policy.min_pixels, policy.max_pixels)
    frames, dstats = decode_at(path, info, times, fed, hwaccel=hwaccel)
    t2 = time.perf_counter()
    meta = FrameSetMeta(
        times=tuple(f.time for f in frames),
        fed_size=fed,
        orig_size=(info.width, info.height),
        rotation=info.rotation,
        duration=info.duration,
        frame_indices=tuple(round(t * info.fps) for t in times),
    )
    stats = SampleStats(dstats.decoded_frames, dstats.seeks, t1 - t0, t2 - t1,
                        dstats.skipped_frames)
    return SampledVideo(FrameSet([f.image for f in frames], meta), info, stats)
