"""Decode exactly the frames a sample needs, converted to what the model is fed.

Owns `decode_at` (the sampler's decoder), `plan_ranges` (how targets are split between
parallel workers) and `decode_all_at` (the decode-everything reference used by tests
and the benchmark). Invariants:
- Targets are visited in time order. For each, the decoder seeks to the last keyframe
  at or before it ONLY when that keyframe lies after the last decoded frame; otherwise
  it decodes on, because every frame between here and the target must be decoded
  anyway and a seek would only repeat work. So the frames decoded are the union of
  the spans [keyframe(t), t] over targets: the floor the keyframe layout allows.
- The frame returned for a target is the first one whose pts is at or after the
  target minus half a frame interval (the nearest frame for constant frame rates);
  on variable frame rate videos the targets are first snapped to the nearest real
  frame (demux-only packet scan) and matched exactly. Its time is that frame's own
  pts, so variable frame rate videos get true times.
- Conversion to RGB and resize (bicubic, in libswscale) happen in one `reformat`
  call at the coded orientation; rotation to display orientation is then a lossless
  PIL transpose of the small image.
- Parallel: targets are cut into groups only where the sequential decoder would seek
  anyway (the next target's keyframe lies after the previous target), and up to
  `workers` groups, balanced by the seconds each must decode, run in threads, each
  with its own container (FFmpeg releases the GIL while decoding and scaling). The
  frames decoded are the same union of spans as sequentially: the work is not
  repeated, only spread.
- Hardware decoding (`hwaccel`, off by default) goes through PyAV's `HWAccel`; frames
  come back to system memory, so everything after decoding is the same. A device
  that cannot be opened, or a stream no hardware decoder takes, decodes in software
  and logs why (once per process and device type).
- The decoder runs without frame threading (`thread_type="SLICE"`): frame threads
  keep several frames in flight, decoded but never output when the decoder stops or
  seeks, so the decoded counter (frames output) would miss work and the extra frames
  cost CPU for nothing. Parallel ranges give the wall-time gain instead.
- Non-reference frames that cannot be returned are not decoded (`skip_nonref`, on by
  default): packets are fed one by one (`demux` + `decode`), and while a packet's
  display time is before the current target minus the tolerance the decoder runs
  with `skip_frame = "NONREF"`, so a frame nothing else predicts from (most B-frames)
  is dropped unseen; reference frames are always decoded, and every frame that could
  be chosen for this or a later target is decoded. The frames returned are the same
  pixels (tests compare with skipping off and with decode-everything). Counters:
  `decoded_frames` = frames the decoder output, `skipped_frames` = frames it dropped,
  so decoded + skipped is the floor of the keyframe layout.
"""

from __future__ import annotations

import bisect
import logging
import os
import threading
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import av
import av.error
from av.codec.hwaccel import HWAccel
from av.container import InputContainer
from av.video.frame import VideoFrame
from av.video.stream import VideoStream
from PIL import Image

from service.video.container import open_input
from service.video.errors import NoDecodableFrames, TruncatedVideo
from service.video.index import SNAP_TOL, Keyframe, scan_packets, snap_to_frames
from service.video.probe import VideoInfo, open_container, video_stream

log = logging.getLogger("service.video.decode")
HWACCEL_FALLBACKS: dict[str, int] = {}  # device type -> software fallbacks (tests, logs)
_FALLBACK_LOCK = threading.Lock()

_TRANSPOSE = {
    90: Image.Transpose.ROTATE_270,  # PIL rotates counter-clockwise; 270 ccw = 90 cw
    180: Image.Transpose.ROTATE_180,
    270: Image.Transpose.ROTATE_90,
}


@dataclass(frozen=True)
class DecodedFrame:
    time: float
    image: Image.Image


@dataclass
class DecodeStats:
    decoded_frames: int = 0  # frames the decoder output
    seeks: int = 0
    skipped_frames: int = 0  # non-reference frames before a target, dropped undecoded
    packets_sent: int = 0  # packets given to the decoder (includes the reorder spill)

    def __add__(self, other: DecodeStats) -> DecodeStats:
        return DecodeStats(self.decoded_frames + other.decoded_frames,
                           self.seeks + other.seeks,
                           self.skipped_frames + other.skipped_frames,
                           self.packets_sent + other.packets_sent)


@dataclass
class _Cursor:
    """Where the decoder is: the last decoded frame and an iterator that continues.

    `skip_before` (display seconds) is set by the caller to the current target minus
    the tolerance; with `skip_nonref`, packets shown before it are sent with
    `skip_frame = "NONREF"`. Their pts wait in `_pending` until a later frame is
    output: output is in display order, so a pending pts below the last output's was
    dropped by the decoder (`_settle` counts those as skipped)."""

    container: InputContainer
    stream: VideoStream
    info: VideoInfo
    stats: DecodeStats
    skip_nonref: bool = True
    skip_before: float = float("-inf")
    last: tuple[float, VideoFrame] | None = None
    frames: Iterator[VideoFrame] = field(init=False)
    key_times: list[float] = field(init=False)
    _pending: set[int] = field(init=False, default_factory=set)

    def __post_init__(self) -> None:
        self.frames = self._decode()
        self.key_times = [k.time for k in self.info.keyframes]

    @property
    def position(self) -> float:
        return self.last[0] if self.last else float("-inf")

    def _decode(self) -> Iterator[VideoFrame]:
        ctx = self.stream.codec_context
        tb, start = self.info.time_base, self.info.start_time
        mode: Literal["DEFAULT", "NONREF"] = "DEFAULT"
        for packet in self.container.demux(self.stream):
            if packet.size:
                self.stats.packets_sent += 1
                early = (self.skip_nonref and packet.pts is not None
                         and float(packet.pts * tb) - start < self.skip_before)
                if early:
                    self._pending.add(packet.pts)  # type: ignore[arg-type]  # checked above
                want: Literal["DEFAULT", "NONREF"] = "NONREF" if early else "DEFAULT"
                if want != mode:
                    ctx.skip_frame = want
                    mode = want
            yield from packet.decode()

    def settle(self) -> None:
        """Count the pending frames the decoder dropped (those before the last output)."""
        if self._pending and self.last is not None and self.last[1].pts is not None:
            last_pts = self.last[1].pts
            self.stats.skipped_frames += sum(1 for p in self._pending if p < last_pts)
        self._pending.clear()

    def seek(self, keyframe: Keyframe) -> None:
        self.settle()
        self.container.seek(keyframe.seek_ts, stream=self.stream, backward=True)
        self.frames = self._decode()
        self.last = None
        self.stats.seeks += 1

    def next_frame(self) -> tuple[float, VideoFrame] | None:
        try:
            frame = next(self.frames, None)
        except av.error.FFmpegError as err:
            raise TruncatedVideo(f"the video stops decoding after {self.position:.2f} s: "
                                 f"{err}") from err
        if frame is None or frame.pts is None:
            return None
        self.stats.decoded_frames += 1
        self._pending.discard(frame.pts)
        t = float(frame.pts * self.info.time_base) - self.info.start_time
        self.last = (t, frame)
        return self.last


def decode_at(
    path: str | Path, info: VideoInfo, times: Sequence[float], fed_size: tuple[int, int],
    *, workers: int | None = None, hwaccel: str | None = None, skip_nonref: bool = True,
) -> tuple[list[DecodedFrame], DecodeStats]:
    """Decode the frames nearest `times` (sorted) and convert them to `fed_size`.

    `fed_size` is (width, height) in display orientation. Returns one frame per
    target, in target order, plus how many frames were decoded and seeks made.
    `workers` (default: the CPUs this process may use) bounds the parallel groups.
    `hwaccel`: a PyAV hardware device type ("cuda", "vaapi", ...) to decode on;
    software (with a log line) when the device or a decoder for the codec is missing.
    `skip_nonref`: drop non-reference frames that cannot be returned (same pixels).
    """
    ordered, tol = targets(path, info, times)
    groups = plan_ranges(info.keyframe_times, ordered, tol, workers or cpus_available())
    if len(groups) <= 1:
        return _decode_group(path, info, ordered, tol, fed_size, hwaccel, skip_nonref)
    with ThreadPoolExecutor(max_workers=len(groups), thread_name_prefix="decode") as pool:
        parts = list(pool.map(
            lambda g: _decode_group(path, info, g, tol, fed_size, hwaccel, skip_nonref),
            groups))
    out = [frame for frames, _ in parts for frame in frames]
    return out, sum((st for _, st in parts), DecodeStats())


def targets(path: str | Path, info: VideoInfo, times: Sequence[float]
            ) -> tuple[list[float], float]:
    """The sorted targets and the tolerance that picks a frame for each.

    Constant frame rate: the targets as asked, tolerance half a frame interval (the
    first frame at or after `t - tol` is the nearest). Variable frame rate: frames are
    irregular, so the targets are snapped to the nearest real frame from a demux-only
    packet scan and matched exactly: the decoder then knows which frame ends each
    span and never decodes past a gap to find out (decoded = the floor).
    """
    if not info.variable_frame_rate:
        return sorted(times), 0.5 / info.fps
    frames = scan_packets(path).frame_times
    if not frames:
        return sorted(times), 0.5 / info.fps
    return snap_to_frames(frames, sorted(times)), SNAP_TOL


def cpus_available() -> int:
    """CPUs this process may run on (its affinity mask)."""
    if hasattr(os, "sched_getaffinity"):
        return max(1, len(os.sched_getaffinity(0)))
    return max(1, os.cpu_count() or 1)


def plan_ranges(
    key_times: Sequence[float], times: Sequence[float], tol: float, workers: int
) -> list[list[float]]:
    """Split sorted `times` into at most `workers` contiguous groups, cutting only where
    a sequential decoder seeks anyway: before a target whose keyframe comes after the
    previous target's keyframe. Groups are balanced by the seconds each decodes (from
    a segment's keyframe to its last target).

    >>> plan_ranges([0.0, 10.0, 20.0, 30.0], [1.0, 2.0, 11.0, 21.0, 22.0, 31.0], 0.01, 2)
    [[1.0, 2.0, 11.0], [21.0, 22.0, 31.0]]
    >>> plan_ranges([0.0, 10.0], [1.0, 5.0, 9.0], 0.01, 4)  # one GOP: nothing to cut
    [[1.0, 5.0, 9.0]]
    """
    if workers <= 1 or len(times) <= 1:
        return [list(times)]
    segments: list[list[float]] = []
    starts: list[float] = []
    last_key = None
    for t in times:
        k = max(0, bisect.bisect_right(key_times, t + tol) - 1)
        if k != last_key:
            segments.append([])
            starts.append(key_times[k] if key_times else 0.0)
            last_key = k
        segments[-1].append(t)
    costs = [seg[-1] - start + tol for seg, start in zip(segments, starts, strict=True)]
    return _balance(segments, costs, workers)


def _balance(segments: list[list[float]], costs: list[float], workers: int
             ) -> list[list[float]]:
    """Contiguous groups of segments, each closed once it reaches its share of the cost."""
    groups: list[list[float]] = [[]]
    done = 0.0
    total = sum(costs)
    for seg, cost in zip(segments, costs, strict=True):
        share = total * len(groups) / workers
        if groups[-1] and done + cost / 2 > share and len(groups) < workers:
            groups.append([])
        groups[-1].extend(seg)
        done += cost
    return groups


def _decode_group(
    path: str | Path, info: VideoInfo, times: Sequence[float], tol: float,
    fed_size: tuple[int, int], hwaccel: str | None = None, skip_nonref: bool = True,
) -> tuple[list[DecodedFrame], DecodeStats]:
    """One worker: its own container, decoding `times` (sorted) in order."""
    stats = DecodeStats()
    with open_decoder(Path(path), hwaccel) as container:
        stream = video_stream(container)
        stream.thread_type = "SLICE"  # no frames in flight: decoded counts all work
        cursor = _Cursor(container, stream, info, stats, skip_nonref)
        out = [_convert(_reach(cursor, t, tol), info, fed_size) for t in times]
        cursor.settle()
        if hwaccel and not stream.codec_context.is_hwaccel and stats.decoded_frames:
            software_fallback(hwaccel, f"no {hwaccel} decoder took the "
                              f"{stream.codec_context.name} stream")
    return out, stats


def open_decoder(path: Path, hwaccel: str | None) -> InputContainer:
    """`open_container`, on the `hwaccel` device when one is asked for and can be
    opened (else software, logged)."""
    if hwaccel:
        try:
            accel = HWAccel(device_type=hwaccel, allow_software_fallback=True)
            return open_input(path, hwaccel=accel)
        except (av.error.FFmpegError, ValueError, TypeError) as err:
            software_fallback(hwaccel, f"cannot open the device: {err}")
    return open_container(path)  # (again, on a real file error: the mapped VideoError)


def software_fallback(hwaccel: str, why: str) -> None:
    """Count a fallback to software decoding; log the first one per device type."""
    with _FALLBACK_LOCK:
        first = hwaccel not in HWACCEL_FALLBACKS
        HWACCEL_FALLBACKS[hwaccel] = HWACCEL_FALLBACKS.get(hwaccel, 0) + 1
    if first:
        log.warning("hardware decoding (%s) unavailable, decoding in software: %s "
                    "(logged once per process; O3_VIDEO_HWACCEL)", hwaccel, why)


def _reach(cursor: _Cursor, target: float, tol: float) -> tuple[float, VideoFrame]:
    """Advance (seeking only when it saves work) to the frame for `target`."""
    if cursor.last and cursor.last[0] >= target - tol:
        return cursor.last  # the same frame serves two close targets
    cursor.skip_before = target - tol
    keys = cursor.info.keyframes
    k = bisect.bisect_right(cursor.key_times, target + tol) - 1
    fresh_start = cursor.stats.packets_sent == 0 and k == 0  # decoder is at keyframe 0
    if k >= 0 and keys[k].time > cursor.position and not fresh_start:
        cursor.seek(keys[k])
        got = cursor.next_frame()
        while got is not None and got[0] > target + tol and k > 0:
            k -= 1  # the index put this keyframe after the target: step back one
            cursor.seek(keys[k])
            got = cursor.next_frame()
        if got is None:
            return _end_of_stream(cursor, target)
        if got[0] >= target - tol:
            return got
    return _decode_on(cursor, target, tol)


def _decode_on(cursor: _Cursor, target: float, tol: float) -> tuple[float, VideoFrame]:
    while (got := cursor.next_frame()) is not None:
        if got[0] >= target - tol:
            return got
    return _end_of_stream(cursor, target)


def _end_of_stream(cursor: _Cursor, target: float) -> tuple[float, VideoFrame]:
    if cursor.last is not None:
        return cursor.last  # target past the last frame: the last frame is nearest
    if cursor.stats.decoded_frames == 0 and cursor.stats.seeks == 0:  # nothing from the start
        raise NoDecodableFrames("the video stream contains no decodable frames")
    raise TruncatedVideo(f"the video ends before {target:.2f} s although its header says "
                         f"{cursor.info.duration:.2f} s (is the file cut off?)")


def _convert(got: tuple[float, VideoFrame], info: VideoInfo, fed: tuple[int, int]) -> DecodedFrame:
    t, frame = got
    w, h = (fed[1], fed[0]) if info.rotation % 180 == 90 else fed
    rgb = frame.reformat(width=w, height=h, format="rgb24", interpolation="BICUBIC")
    image: Image.Image = rgb.to_image()  # type: ignore[no-untyped-call]  # untyped in PyAV
    if info.rotation in _TRANSPOSE:
        image = image.transpose(_TRANSPOSE[info.rotation])
    return DecodedFrame(time=t, image=image)


def decode_all_at(
    path: str | Path, info: VideoInfo, times: Sequence[float], fed_size: tuple[int, int]
) -> tuple[list[DecodedFrame], DecodeStats]:
    """Reference: decode every frame from the start, keep the ones `decode_at` would."""
    stats = DecodeStats()
    ordered, tol = targets(path, info, times)
    with open_container(Path(path)) as container:
        stream = video_stream(container)
        stream.thread_type = "AUTO"
        cursor = _Cursor(container, stream, info, stats, skip_nonref=False)
        out = [_convert(_decode_on(cursor, t, tol), info, fed_size) for t in ordered]
        while cursor.next_frame() is not None:
            pass  # a decode-everything baseline decodes everything
    return out, stats
