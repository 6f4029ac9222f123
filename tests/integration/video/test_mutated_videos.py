"""Corrupted real videos: the sampler answers with a typed `VideoError` or frames, never
anything else, and never hangs.

Seeded mutations (bit flips, truncation, duplicated, zeroed or spliced ranges) of small
H.264 MP4 / MKV, VP9 WebM and MPEG-4 AVI files go through `sample_video`, as an upload
and a /v1/reason would. A sweep of 1,600 mutants (400 per file, `python -m pytest
tests/integration/video/test_mutated_videos.py` with `O3_FUZZ_MUTANTS=400`) found one
escape, a stream with a codec id FFmpeg has no decoder for (`codec_context` is None:
an AttributeError, a 500); pinned in test_bad_input.py as `unknown_codec.mkv`. The
default run checks 150 mutants per file (about 6 s; it hits the escape in both the MP4
and the MKV file, where 40 hit it in one).
"""

from __future__ import annotations

import os
import random
import time
from collections import Counter
from pathlib import Path

import av
import pytest

from service.video import synth
from service.video.errors import VideoError
from service.video.policy import FramePolicy
from service.video.sampler import sample_video
from service.video.synth import CodecName
from tests.support.fuzz import mutate

MUTANTS = int(os.environ.get("O3_FUZZ_MUTANTS", "150"))
SOURCES: dict[str, CodecName] = {
    "h264.mp4": "h264", "h264.mkv": "h264", "vp9.webm": "vp9", "mpeg4.avi": "mpeg4"}
SLOW_S = 10.0  # each mutant decodes 4 frames of a 1 s, 64 x 48 file: milliseconds


@pytest.mark.parametrize("name", sorted(SOURCES))
def test_mutated_videos_fail_only_with_video_errors(tmp_path: Path, name: str) -> None:
    source = tmp_path / f"src_{name}"
    synth.write_moving_square(source, codec=SOURCES[name], width=64, height=48, duration=1.0)
    data = source.read_bytes()
    outcomes: Counter[str] = Counter()
    av.logging.set_level(None)
    for seed in range(MUTANTS):
        path = tmp_path / f"mutant{seed}_{name}"
        path.write_bytes(mutate(random.Random(seed), data))
        t0 = time.perf_counter()
        try:
            sample_video(path, FramePolicy(num_frames=4))
            outcomes["frames"] += 1
        except VideoError as err:
            assert 400 <= err.status < 500 or err.status == 507, (seed, err)
            outcomes[err.code] += 1
        assert time.perf_counter() - t0 < SLOW_S, (seed, "slow")
        path.unlink()
    # not vacuous: the mutants reach both outcomes
    assert outcomes["frames"] and sum(outcomes.values()) - outcomes["frames"], outcomes
