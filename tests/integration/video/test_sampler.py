"""The sampler on real generated videos: right frames, right times, right pixels,
and no more decoding than the keyframe layout requires."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from service.grounding.geometry import box_iou, display_to_fed
from service.grounding.types import Box
from service.video.decode import decode_all_at
from service.video.index import decode_floor, scan_packets
from service.video.policy import FramePolicy, choose_times
from service.video.sampler import sample_video
from service.video.synth import MovingSquareTruth

Videos = dict[str, tuple[Path, MovingSquareTruth]]

# Every generated kind of video; each is checked frame by frame against its truth.
ALL = [
    "h264.mp4",  # H.264 in MP4, B-frames (index dts != pts)
    "vp9.webm",  # VP9 in WebM (index = cues, keyframes only)
    "mpeg4.avi",  # MPEG-4 Part 2 in AVI (short default GOP: many seeks)
    "mpeg4.mp4",  # MPEG-4 Part 2 in MP4
    "rot90.mp4",  # display matrix: the fed frame must be rotated clockwise 90
    "rot180.mp4",  # upside down
    "rot270.mp4",  # counter-clockwise 90
    "vfr.mp4",  # variable frame rate: times must be the true pts
    "audio.mp4",  # an audio stream must not disturb video sampling
    "audio.webm",  # same with Opus in WebM
    "long_gop.mp4",  # 12 s, keyframe every 3 s: decode on instead of seeking
    "short_gop.mp4",  # 10 s, keyframe every 0.5 s: seek per target
]


def red_box(image: Image.Image) -> Box | None:
    """Bounding box (pixel edges) of the strongly red pixels of an RGB image."""
    a = np.asarray(image).astype(int)
    mask = (a[..., 0] > 150) & (a[..., 1] < 100) & (a[..., 2] < 100)
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    return (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


@pytest.mark.parametrize("name", ALL)
def test_frames_match_truth(videos: Videos, name: str) -> None:
    path, truth = videos[name]
    sampled = sample_video(path)
    meta, frames = sampled.frameset.meta, sampled.frameset.frames
    display = (truth.scene.height, truth.scene.width) if truth.rotation % 180 == 90 else (
        truth.scene.width, truth.scene.height)
    assert meta.rotation == truth.rotation
    assert meta.orig_size == (truth.scene.width, truth.scene.height)
    assert meta.fed_size[0] % 28 == 0 and meta.fed_size[1] % 28 == 0
    assert (meta.fed_size[0] > meta.fed_size[1]) == (display[0] > display[1])
    frame_period = max(np.diff(truth.frame_times))
    for t, img, target in zip(meta.times, frames, choose_times(sampled.info, FramePolicy()),
                              strict=True):
        assert img.size == meta.fed_size
        assert min(abs(t - ft) for ft in truth.frame_times) < 1e-3  # a real frame's pts
        assert abs(t - target) <= frame_period  # within one frame of what was asked
        want = display_to_fed(truth.display_box_at(t), display, meta.fed_size)
        got = red_box(img)
        assert got is not None, f"no square found at {t:.3f}s"
        assert box_iou(got, want) > 0.6, (t, got, want)


@pytest.mark.parametrize("name", ["h264.mp4", "vp9.webm", "rot90.mp4", "vfr.mp4",
                                  "long_gop.mp4", "short_gop.mp4", "mpeg4.avi"])
def test_same_pixels_as_decoding_everything(videos: Videos, name: str) -> None:
    # Guards the seek logic: a wrong seek target shows up as a different frame.
    path, _ = videos[name]
    sampled = sample_video(path)
    times = choose_times(sampled.info, FramePolicy())
    ref, ref_stats = decode_all_at(path, sampled.info, times, sampled.frameset.meta.fed_size)
    assert [f.time for f in ref] == list(sampled.frameset.meta.times)
    for mine, theirs in zip(sampled.frameset.frames, ref, strict=True):
        assert np.array_equal(np.asarray(mine), np.asarray(theirs.image))
    assert sampled.stats.decoded_frames <= ref_stats.decoded_frames


# (video, policy, expected seeks at least): the decode count must equal the floor.
ECONOMY = [
    ("long_gop.mp4", FramePolicy(), 1),  # 16 targets, 4 GOPs: decode on inside a GOP
    ("short_gop.mp4", FramePolicy(), 10),  # GOP shorter than the spacing: seek each time
    ("short_gop.mp4", FramePolicy(num_frames=64), 10),  # denser than GOPs: mixed
    ("long_gop.mp4", FramePolicy(fps=4.0), 1),  # explicit fps: 48 frames
]


@pytest.mark.parametrize(("name", "policy", "min_seeks"), ECONOMY)
def test_decodes_exactly_the_floor(
    videos: Videos, name: str, policy: FramePolicy, min_seeks: int
) -> None:
    path, _ = videos[name]
    sampled = sample_video(path, policy)
    times = list(sampled.frameset.meta.times)
    floor = decode_floor(scan_packets(path), times)
    assert sampled.stats.decoded_frames + sampled.stats.skipped_frames == floor
    assert sampled.stats.seeks >= min_seeks
    assert sampled.stats.decoded_frames < sampled.info.frame_count


def test_variable_frame_rate_times_are_true(videos: Videos) -> None:
    path, truth = videos["vfr.mp4"]
    sampled = sample_video(path, FramePolicy(num_frames=32, short_video_s=0))
    assert sampled.info.variable_frame_rate
    gaps = np.diff(sampled.frameset.meta.times)
    assert gaps.max() - gaps.min() > 0.02  # not a uniform grid: the real pts came back
    for t in sampled.frameset.meta.times:
        assert t in {round(ft, 6) for ft in truth.frame_times} or min(
            abs(t - ft) for ft in truth.frame_times) < 1e-3


def test_explicit_fps_gives_that_rate(videos: Videos) -> None:
    path, _ = videos["short_gop.mp4"]
    sampled = sample_video(path, FramePolicy(fps=1.0))
    assert list(sampled.frameset.meta.times) == pytest.approx([float(k) for k in range(10)])


def test_probe_reports_audio_and_codec(videos: Videos) -> None:
    for name, codec, audio in [("audio.mp4", "h264", True), ("audio.webm", "vp9", True),
                               ("mpeg4.avi", "mpeg4", False)]:
        info = sample_video(videos[name][0]).info
        assert (info.codec, info.has_audio) == (codec, audio)


@pytest.mark.skipif(shutil.which("ffmpeg") is None,
                    reason="needs the ffmpeg CLI as an independent player (apt-get install ffmpeg)")
@pytest.mark.parametrize("name", ["rot90.mp4", "rot270.mp4"])
def test_rotation_agrees_with_ffmpeg_player(videos: Videos, name: str) -> None:
    # An independent player (ffmpeg autorotate) must show the square where our
    # display truth and our sampler put it: guards the sign of the rotation.
    path, truth = videos[name]
    w, h = truth.scene.height, truth.scene.width  # display size at 90/270
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(path), "-frames:v", "1",
                          "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    shown = Image.frombytes("RGB", (w, h), raw)
    got = red_box(shown)
    assert got is not None and box_iou(got, truth.display_box_at(0.0)) > 0.8
