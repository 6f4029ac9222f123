"""A video deleted by a concurrent request is a 404 `VideoNotFound` at every step that
opens it, never a raw FileNotFoundError (which the gateway would answer with a 500)."""

from __future__ import annotations

from pathlib import Path

import pytest

from service.video.errors import VideoNotFound
from service.video.policy import FramePolicy
from service.video.probe import VideoLimits, open_container, probe_video
from service.video.sampler import sample_video
from service.video.synth import write_moving_square


def test_open_of_a_vanished_file_is_video_not_found(tmp_path: Path) -> None:
    # the race: the store's lookup found the file, a DELETE removed it, then PyAV opens
    with pytest.raises(VideoNotFound):
        open_container(tmp_path / ("0" * 64))


def test_sampling_after_delete_with_a_memoised_probe(tmp_path: Path) -> None:
    # the gateway memoises probes: decoding a deleted video starts from a valid info
    path = tmp_path / "v.mp4"
    write_moving_square(path, duration=1.0)
    info = probe_video(path, VideoLimits())
    path.unlink()
    with pytest.raises(VideoNotFound):
        sample_video(path, FramePolicy(num_frames=2), VideoLimits(), info)
