"""Random bytes are `not_a_video` (415), whatever FFmpeg's format sniff guesses.

CI caught this: about 1 in 130 random 200 kB blobs passes FFmpeg's raw h263 sniff
(and 1 in 6000 the VVC one), and then came back 422 "declares no frame size" or 422
"missing timestamps"; about 1 in 3000 is read as an LRC lyrics file whose metadata is
not UTF-8, and PyAV's strict metadata decoding raised `UnicodeDecodeError` (a 500).
The seeds below were found by sweeping `random.Random(seed).randbytes(200_000)` and
opening each blob with PyAV: they pin each of those cases; the sweep test covers the
ordinary ones. A real raw bitstream is still told apart from noise (422, remux it).
"""

from __future__ import annotations

import random
from pathlib import Path

import av
import pytest

from service.video import synth
from service.video.errors import DimensionsTooLarge, MissingTimestamps, NotAVideo
from service.video.policy import FramePolicy
from service.video.probe import VideoLimits, probe_video
from service.video.sampler import sample_video

# seed -> what FFmpeg makes of random.Random(seed).randbytes(200_000)
SNIFFED = {
    37: "h263, no frame size",
    68: "h263 with a frame size (704x576): its one frame decodes only by concealment",
    131: "lrc (a lyrics text format): no video stream",
    2700: "lrc with non-UTF-8 metadata: PyAV's strict decoding raised UnicodeDecodeError",
    5855: "vvc, no frame size",
}


def _blob(tmp_path: Path, seed: int) -> Path:
    path = tmp_path / f"junk{seed}.mp4"
    path.write_bytes(random.Random(seed).randbytes(200_000))
    return path


@pytest.mark.parametrize("seed", sorted(SNIFFED), ids=[SNIFFED[s] for s in sorted(SNIFFED)])
def test_sniffed_random_bytes_are_not_a_video(tmp_path: Path, seed: int) -> None:
    with pytest.raises(NotAVideo) as caught:
        probe_video(_blob(tmp_path, seed))
    assert caught.value.status == 415 and caught.value.code == "not_a_video"


def test_the_pinned_seeds_still_fool_ffmpeg(tmp_path: Path) -> None:
    # Guards the table above: if an FFmpeg upgrade stops sniffing these blobs, the
    # pinned tests would pass vacuously; this says so instead.
    seen = {}
    for seed in (37, 68, 5855):
        with av.open(str(_blob(tmp_path, seed)), metadata_errors="replace") as c:
            seen[seed] = (c.format.name, len(c.streams.video))
    assert seen == {37: ("h263", 1), 68: ("h263", 1), 5855: ("vvc", 1)}
    with pytest.raises(UnicodeDecodeError):
        av.open(str(_blob(tmp_path, 2700)))


def test_a_sweep_of_random_blobs_is_all_not_a_video(tmp_path: Path) -> None:
    for seed in range(200):  # holds 6 h263 sniffs (one with a frame size) and an lrc
        path = _blob(tmp_path, seed)
        with pytest.raises(NotAVideo):
            probe_video(path)
        path.unlink()


def test_a_real_raw_bitstream_is_still_told_to_remux(tmp_path: Path) -> None:
    path = synth.write_raw_h264(tmp_path / "raw.h264")
    with pytest.raises(MissingTimestamps) as caught:
        probe_video(path)
    assert caught.value.status == 422 and "raw h264 bitstream" in str(caught.value)


def test_a_raw_bitstream_over_the_pixel_limit_is_refused_before_decoding(
        tmp_path: Path) -> None:
    path = synth.write_raw_h264(tmp_path / "raw.h264")  # 64 x 48
    with pytest.raises(DimensionsTooLarge):
        probe_video(path, VideoLimits(max_pixels=100))


def test_latin1_metadata_does_not_stop_a_good_video(tmp_path: Path) -> None:
    path = synth.write_latin1_title(tmp_path / "latin1.mp4")
    with pytest.raises(UnicodeDecodeError):  # the file really is what it says
        av.open(str(path))
    info = probe_video(path)
    assert (info.width, info.height, info.frame_count) == (64, 48, 15)
    sampled = sample_video(path, FramePolicy(num_frames=4))
    assert len(sampled.frameset.frames) == 4
