"""Probe a video file: what it is, how long, how big, where its keyframes are.

Owns `VideoInfo` (everything the sampler needs to plan a decode) and `VideoLimits`
(what the service refuses). Invariants:
- Limits on bytes, pixels and duration are checked from the file size and the
  container header, BEFORE any frame is decoded; only then is the first frame decoded
  (to read the display rotation and prove the stream decodes). A raw bitstream (no
  container: refused either way) has its first frame decoded, after the size check, to
  tell a real one (422, remux it) from random bytes FFmpeg's sniff took for one (415).
- Every failure is a `service.video.errors.VideoError`; PyAV exceptions never escape.
- `rotation` is degrees clockwise the player rotates the coded frame for display
  (0/90/180/270). PyAV's `VideoFrame.rotation` is counter-clockwise, hence the sign.
- Times are seconds relative to the first frame's pts (`start_time`), so the first
  frame is at 0.0 whatever the container's origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.video.stream import VideoStream

from service.video.container import open_input
from service.video.errors import (
    BYTES_SETTING,
    DURATION_SETTING,
    PIXELS_SETTING,
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
from service.video.index import Keyframe, keyframes_from_index, looks_like_mp4

# Formats FFmpeg uses for single still images: a photo is not a video.
_IMAGE_FORMATS = ("image2", "_pipe")
_MAX_ASPECT = 200.0  # Qwen2.5-VL's resize refuses more extreme aspect ratios.
# Raw bitstream demuxers (h263, h264, hevc, mpegvideo...): no container, no timestamps.
_GUESSED_FROM_CONTENT = 0x0080  # AVFMT_NOTIMESTAMPS, PyAV: av.format.Flags.no_timestamps
_RAW_PACKETS = 32  # how far into a raw bitstream to look for its first frame


@dataclass(frozen=True)
class VideoLimits:
    """What the service refuses before decoding (defaults: 1 hour, 8192x8192, 2 GiB)."""

    max_duration_s: float = 3600.0
    max_pixels: int = 8192 * 8192
    max_bytes: int = 2 * 1024**3


@dataclass(frozen=True)
class VideoInfo:
    """A probed video stream; times are seconds relative to `start_time`.

    `keyframes` is the keyframe layout (display time + container seek timestamp) from
    the container's index, or from a packet scan when the container has none.
    `frame_count` is exact when the container says so, else duration x fps.
    """

    duration: float
    fps: float
    variable_frame_rate: bool
    width: int
    height: int
    rotation: int
    codec: str
    frame_count: int
    has_audio: bool
    time_base: Fraction
    start_time: float
    keyframes: tuple[Keyframe, ...] = ()

    @property
    def keyframe_times(self) -> tuple[float, ...]:
        return tuple(k.time for k in self.keyframes)

    @property
    def display_size(self) -> tuple[int, int]:
        """(width, height) as the player shows it (swapped at 90/270 degrees)."""
        if self.rotation % 180 == 90:
            return (self.height, self.width)
        return (self.width, self.height)


def probe_video(path: str | Path, limits: VideoLimits | None = None) -> VideoInfo:
    """Read a video's header, refuse what is over `limits`, then decode one frame."""
    limits = limits or VideoLimits()
    path = Path(path)
    size = _check_file(path, limits)
    container = open_container(path)
    try:
        return _probe_open(container, path, size, limits)
    finally:
        container.close()


def _check_file(path: Path, limits: VideoLimits) -> int:
    try:
        size = path.stat().st_size
    except FileNotFoundError:
        raise VideoNotFound(f"video file {path.name} does not exist") from None
    if size == 0:
        raise EmptyFile("the uploaded file is empty (0 bytes)")
    if size > limits.max_bytes:
        raise VideoTooLarge(
            f"video is {size} bytes; the limit is {limits.max_bytes} bytes ({BYTES_SETTING})"
        )
    return size


def open_container(path: Path) -> InputContainer:
    """Open a file with PyAV, turning its errors into user-facing `VideoError`s. A file
    gone since it was looked up (deleted by a concurrent request) is `VideoNotFound`."""
    try:
        return open_input(path)
    except FileNotFoundError as err:  # also PyAV's own, which subclasses it
        raise VideoNotFound(f"video file {path.name} does not exist") from err
    except av.error.FFmpegError as err:
        if looks_like_mp4(path):
            raise TruncatedVideo(
                "the file starts like an MP4/MOV but its index is missing: "
                "it is incomplete (was the upload cut off?)"
            ) from err
        raise NotAVideo("the file is not a video FFmpeg can read (unknown format)") from err


def video_stream(container: InputContainer) -> VideoStream:
    """The first video stream; refuses still images and audio-only files."""
    if any(tag in container.format.name for tag in _IMAGE_FORMATS):
        raise NotAVideo(
            f"the file is a still image ({container.format.name.replace('_pipe', '')}), "
            "not a video"
        )
    if not container.streams.video:
        if container.streams.audio:
            raise NotAVideo("the file has audio but no video stream")
        raise NotAVideo("the file has no video stream")
    stream = container.streams.video[0]
    if stream.codec_context is None:  # a codec id FFmpeg has no decoder for (or a corrupt one)
        raise NoDecodableFrames("the video stream's codec is unknown to FFmpeg (or its id is "
                                "corrupt): it cannot be decoded")
    return stream


def _probe_open(container: InputContainer, path: Path, size: int, lim: VideoLimits) -> VideoInfo:
    stream = video_stream(container)
    if container.format.flags & _GUESSED_FROM_CONTENT:
        _refuse_raw_bitstream(container, stream, lim)
    width, height = stream.codec_context.width, stream.codec_context.height
    _check_dimensions(width, height, lim)
    duration = _header_duration(container, stream)
    if duration > lim.max_duration_s:
        raise VideoTooLong(
            f"video is {duration:.1f} s long; the limit is {lim.max_duration_s:g} s "
            f"({DURATION_SETTING})"
        )
    _check_not_truncated(stream, size)
    first_pts, rotation = _first_frame(container, stream)
    time_base = stream.time_base or Fraction(1, 1)
    start = float(first_pts * time_base)
    fps = _fps(stream, duration)
    keyframes = keyframes_from_index(stream, path, first_pts, container)
    return VideoInfo(
        duration=duration,
        fps=fps,
        variable_frame_rate=_is_vfr(stream),
        width=width,
        height=height,
        rotation=rotation,
        codec=stream.codec_context.name,
        frame_count=_frame_count(stream, duration, fps),
        has_audio=bool(container.streams.audio),
        time_base=time_base,
        start_time=start,
        keyframes=keyframes,
    )


def _refuse_raw_bitstream(container: InputContainer, stream: VideoStream,
                          lim: VideoLimits) -> None:
    """A raw bitstream has no timestamps, so it is always refused; this says which way.

    FFmpeg names such a format from the bytes alone, and random bytes pass its sniff:
    about 1 in 130 random 200 kB blobs reads as h263 (45 of 6,000 seeds). Its first
    frame then fails to decode, or decodes only by error concealment (flagged corrupt).
    So a clean first frame means a real bitstream to remux (422); anything else is not
    a video (415). A declared frame size over the limits is refused before decoding.
    """
    width, height = stream.codec_context.width, stream.codec_context.height
    if width > 0 and height > 0:
        _check_dimensions(width, height, lim)
    fmt = container.format.name
    if _first_clean_frame(container, stream):
        raise MissingTimestamps(
            f"the file is a raw {fmt} bitstream with no container and no timestamps; "
            "remux it into MP4, MKV or WebM and upload again"
        )
    raise NotAVideo(f"the file is not a video: FFmpeg guessed a raw {fmt} bitstream from "
                    "its bytes, and no frame of it decodes cleanly")


def _first_clean_frame(container: InputContainer, stream: VideoStream) -> bool:
    try:
        for n, packet in enumerate(container.demux(stream)):
            frames = packet.decode()
            if frames:
                return not frames[0].is_corrupt
            if n + 1 >= _RAW_PACKETS:
                return False
    except av.error.FFmpegError:
        return False
    return False


def _check_dimensions(width: int, height: int, lim: VideoLimits) -> None:
    if width <= 0 or height <= 0:
        raise NoDecodableFrames("the video stream declares no frame size; it cannot be decoded")
    if width * height > lim.max_pixels:
        raise DimensionsTooLarge(
            f"video frames are {width}x{height} = {width * height} pixels; the limit is "
            f"{lim.max_pixels} pixels per frame ({PIXELS_SETTING})"
        )
    if max(width, height) / min(width, height) > _MAX_ASPECT:
        raise DimensionsTooLarge(
            f"video frames are {width}x{height}; an aspect ratio over {_MAX_ASPECT:g}:1 "
            "cannot be fed to the model"
        )


def _header_duration(container: InputContainer, stream: VideoStream) -> float:
    if stream.duration is not None and stream.time_base is not None:
        return float(stream.duration * stream.time_base)
    if container.duration is not None:
        return container.duration / av.time_base
    raise MissingTimestamps(
        "the video has no timestamps (a raw elementary stream?); "
        "remux it into MP4, MKV or WebM and upload again"
    )


def _check_not_truncated(stream: VideoStream, size: int) -> None:
    entries = stream.index_entries
    if len(entries) == 0:
        return
    last = entries[len(entries) - 1]
    if last.pos >= 0 and last.pos + last.size > size:
        raise TruncatedVideo(
            f"the video is incomplete: its index points {last.pos + last.size - size} bytes "
            "past the end of the file (was the upload cut off?)"
        )


def _first_frame(container: InputContainer, stream: VideoStream) -> tuple[int, int]:
    """Decode the first frame: its pts and the clockwise display rotation."""
    try:
        frame = next(container.decode(stream), None)
    except av.error.FFmpegError as err:
        raise NoDecodableFrames(f"the video stream cannot be decoded (FFmpeg: {err})") from err
    if frame is None:
        raise NoDecodableFrames("the video stream contains no decodable frames")
    if frame.pts is None:
        raise MissingTimestamps(
            "the video's frames have no timestamps; remux it into MP4, MKV or WebM"
        )
    return frame.pts, (-round(frame.rotation)) % 360


def _fps(stream: VideoStream, duration: float) -> float:
    rate = stream.average_rate or stream.guessed_rate or stream.base_rate
    if rate:
        return float(rate)
    if stream.frames and duration > 0:
        return stream.frames / duration
    return 25.0  # FFmpeg's own assumption for streams that declare no rate


def _is_vfr(stream: VideoStream) -> bool:
    avg, base = stream.average_rate, stream.base_rate
    if not avg or not base:
        return False
    return abs(float(avg) - float(base)) > 0.01 * float(base)


def _frame_count(stream: VideoStream, duration: float, fps: float) -> int:
    if stream.frames > 0:
        return int(stream.frames)
    return max(1, round(duration * fps))


__all__ = ["VideoError", "VideoInfo", "VideoLimits", "open_container", "probe_video"]
