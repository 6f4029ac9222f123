"""Hardware decoding option, on a machine where it is unavailable: decoding falls back
to software with one log line, and the frames are exactly the software ones. (The GPU
side is tests/gpu/test_hwaccel_cuda.py.)"""

from __future__ import annotations

import logging

import numpy as np
import pytest

from service.video import decode
from service.video.policy import FramePolicy
from service.video.sampler import sample_video
from tests.integration.video.test_sampler import Videos

UNAVAILABLE = "nosuchdevice"  # a device type no FFmpeg build has: can never open


@pytest.mark.parametrize("name", ["h264.mp4", "vfr_gop.mp4", "vp9.webm"])
def test_unavailable_device_falls_back_to_software(
    videos: Videos, name: str, caplog: pytest.LogCaptureFixture,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(decode, "HWACCEL_FALLBACKS", {})
    path, _ = videos[name]
    policy = FramePolicy(num_frames=8, short_video_s=0)
    soft = sample_video(path, policy)
    with caplog.at_level(logging.WARNING, logger="service.video.decode"):
        hard = sample_video(path, policy, hwaccel=UNAVAILABLE)
        sample_video(path, policy, hwaccel=UNAVAILABLE)  # a second time: no new line
    assert decode.HWACCEL_FALLBACKS[UNAVAILABLE] >= 2
    lines = [r.getMessage() for r in caplog.records if UNAVAILABLE in r.getMessage()]
    assert len(lines) == 1 and "decoding in software" in lines[0]
    assert hard.frameset.meta.times == soft.frameset.meta.times
    assert hard.stats.decoded_frames == soft.stats.decoded_frames
    for a, b in zip(hard.frameset.frames, soft.frameset.frames, strict=True):
        assert np.array_equal(np.asarray(a), np.asarray(b))


def test_setting_reaches_the_sampler() -> None:
    from service.api.media import Media
    from service.settings import Settings

    assert Media(Settings(_env_file=None, env="dev")).hwaccel is None  # type: ignore[call-arg]
    on = Settings(_env_file=None, env="dev", video_hwaccel="cuda")  # type: ignore[call-arg]
    assert Media(on).hwaccel == "cuda"
    with pytest.raises(ValueError):
        Settings(_env_file=None, env="dev", video_hwaccel="cu da;rm")  # type: ignore[call-arg]
