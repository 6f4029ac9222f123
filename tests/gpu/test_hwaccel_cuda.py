"""Hardware decoding on a GPU host: the sampler decodes an H.264 video with NVDEC
(PyAV `HWAccel("cuda")`), no software fallback is counted, and the frames match the
software decoder's (colour conversion may differ by rounding). Skipped, with the reason,
without a CUDA device (the `gpu` marker hook in tests/conftest.py); run on a GPU machine
with `pytest -m gpu tests/gpu`."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from service.video import decode
from service.video.policy import FramePolicy
from service.video.sampler import sample_video
from service.video.synth import write_moving_square

pytestmark = pytest.mark.gpu


def test_cuda_decoding_matches_software(tmp_path: Path, monkeypatch: pytest.MonkeyPatch
                                        ) -> None:
    import av.codec.hwaccel

    if "cuda" not in av.codec.hwaccel.hwdevices_available():
        pytest.skip("this PyAV/FFmpeg build has no cuda hwdevice")
    monkeypatch.setattr(decode, "HWACCEL_FALLBACKS", {})
    path = tmp_path / "v.mp4"
    write_moving_square(path, width=640, height=360, duration=6.0, gop=30)
    policy = FramePolicy(num_frames=16)
    soft = sample_video(path, policy)
    hard = sample_video(path, policy, hwaccel="cuda")
    assert decode.HWACCEL_FALLBACKS == {}, "fell back to software on a GPU host"
    assert hard.frameset.meta.times == soft.frameset.meta.times
    for a, b in zip(hard.frameset.frames, soft.frameset.frames, strict=True):
        diff = np.abs(np.asarray(a, dtype=int) - np.asarray(b, dtype=int))
        assert diff.mean() < 3.0, diff.mean()
