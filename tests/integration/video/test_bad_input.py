"""Bad files yield typed errors with readable messages, before decoding when a
configured limit is the reason."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from service.video import synth
from service.video.errors import (
    DimensionsTooLarge,
    EmptyFile,
    MissingTimestamps,
    NoDecodableFrames,
    NotAVideo,
    TruncatedVideo,
    VideoError,
    VideoNotFound,
    VideoTooLarge,
    VideoTooLong,
)
from service.video.probe import VideoLimits
from service.video.sampler import sample_video

MakeBad = Callable[[str, Callable[[Path], object]], Path]


def _wide(path: Path) -> None:
    synth.write_moving_square(path, width=4096, height=16, duration=0.2, square_size=8)


# (file name, writer, limits, expected error, words the message must contain)
CASES = [
    # zero bytes: nothing to probe
    ("zero.mp4", synth.write_zero_byte, None, EmptyFile, "empty"),
    # random bytes: FFmpeg finds no format
    ("random.mp4", synth.write_random_bytes, None, NotAVideo, "not a video"),
    # MP4 cut before its moov index (an interrupted upload)
    ("cut.mp4", synth.write_truncated_mp4, None, TruncatedVideo, "incomplete"),
    # faststart MP4 cut inside its data: the index points past the end
    ("cut_fast.mp4", lambda p: synth.write_truncated_mp4(p, faststart=True), None,
     TruncatedVideo, "incomplete"),
    # audio-only file: says so
    ("tone.m4a", synth.write_audio_only, None, NotAVideo, "audio"),
    # a PNG photo is not a video
    ("still.png", synth.write_still_image, None, NotAVideo, "still image"),
    # a JPEG photo is not a video
    ("still.jpg", synth.write_still_image, None, NotAVideo, "still image"),
    # a valid container whose samples are zeroed: nothing decodes
    ("dead.mp4", synth.write_no_frames, None, NoDecodableFrames, "decod"),
    # a codec id FFmpeg has no decoder for: once an AttributeError (500), found by fuzzing
    ("unknown_codec.mkv", synth.write_unknown_codec, None, NoDecodableFrames, "codec"),
    # 4096x16: an aspect ratio the model cannot take
    ("wide.mp4", _wide, None, DimensionsTooLarge, "aspect ratio"),
    # over the configured pixel limit: names the setting that raises it
    ("px.mp4", lambda p: synth.write_moving_square(p, duration=0.5), VideoLimits(
        max_pixels=100 * 100), DimensionsTooLarge, "O3_MAX_PIXELS"),
    # over the configured duration: names the setting
    ("long.mp4", lambda p: synth.write_moving_square(p, duration=2.0), VideoLimits(
        max_duration_s=1.0), VideoTooLong, "O3_MAX_DURATION_S"),
    # over the configured byte limit
    ("big.mp4", lambda p: synth.write_moving_square(p, duration=0.5), VideoLimits(
        max_bytes=100), VideoTooLarge, "O3_MAX_UPLOAD_BYTES"),
    # raw H.264 elementary stream: frames without timestamps
    ("raw.h264", synth.write_raw_h264, None, MissingTimestamps, "timestamps"),
]


@pytest.mark.parametrize(("name", "writer", "limits", "error", "words"), CASES,
                         ids=[c[0] for c in CASES])
def test_bad_file_gives_typed_error(
    bad_file: MakeBad, name: str, writer: Callable[[Path], object],
    limits: VideoLimits | None, error: type[VideoError], words: str,
) -> None:
    path = bad_file(name, writer)
    with pytest.raises(error) as caught:
        sample_video(path, limits=limits)
    err = caught.value
    assert words.lower() in str(err).lower()
    assert 400 <= err.status < 500 and err.code and err.param == "video"
    assert not str(err).startswith("[Errno")  # a sentence, not an FFmpeg errno dump


def test_limits_are_checked_before_decoding(bad_file: MakeBad) -> None:
    # An undecodable file over the duration limit is refused for its duration:
    # the limit was checked from the header, before any decode was tried.
    path = bad_file("dead.mp4", synth.write_no_frames)
    with pytest.raises(VideoTooLong):
        sample_video(path, limits=VideoLimits(max_duration_s=0.1))


def test_missing_file_is_not_found(tmp_path: Path) -> None:
    with pytest.raises(VideoNotFound) as caught:
        sample_video(tmp_path / "nope.mp4")
    assert caught.value.status == 404
