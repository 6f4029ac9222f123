"""The keyframe layout of a video stream, read without decoding.

Owns `Keyframe` (display time + the timestamp to hand to `container.seek`) and the
two ways to find them: the container's own index (MP4 sample tables, MKV cues, AVI
idx1), or, when the container has none, a demux-only packet scan that reads packet
flags and timestamps but decodes nothing. `scan_packets` also gives every frame's
display time, which the sampler benchmark uses to compute the decode floor exactly.

Invariant: keyframe `time`s are seconds relative to the stream's first frame (the
keyframe's own display time), sorted, and `seek_ts` is the timestamp `container.seek`
lands on that keyframe with. MP4 indexes by dts, MKV by pts. FFmpeg's MP4 seek searches
the index shifted by ONE offset (first entry -> first pts), but the decode-to-display
offset of each keyframe varies on variable frame rate files with B-frames (measured:
2272, 1728, 1200 ... in 1/16000 s): so `seek_ts` keeps the one shift, and the display
time of each keyframe of a stream with B-frames is read from its own packet (a seek
and one demuxed packet per keyframe, no decoding; ~0.1 ms each).
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
from av.container import InputContainer
from av.video.stream import VideoStream

from service.video.container import open_input

SNAP_TOL = 1e-4  # seconds: matches a snapped target to its frame (pts rounding only)


@dataclass(frozen=True)
class Keyframe:
    time: float
    seek_ts: int


@dataclass(frozen=True)
class PacketScan:
    """Every video packet's display time (sorted) and which of them are keyframes."""

    frame_times: tuple[float, ...]
    keyframe_times: tuple[float, ...]


def looks_like_mp4(path: Path) -> bool:
    """True when the file starts with an ISO-BMFF box (`....ftyp`)."""
    with path.open("rb") as f:
        head = f.read(12)
    return len(head) >= 8 and head[4:8] == b"ftyp"


def keyframes_from_index(
    stream: VideoStream, path: Path, first_pts: int, container: InputContainer | None = None
) -> tuple[Keyframe, ...]:
    """Keyframes from the container index, else from a packet scan of `path`.

    With `container` (open on `path`) and a stream that reorders frames (B-frames),
    each keyframe's display time is read from its own packet (`peek_keyframe_pts`):
    an MP4 index holds decode timestamps, and the decode-to-display offset is not the
    same for every keyframe on variable frame rate files.
    """
    entries = list(stream.index_entries)
    tb = stream.time_base or Fraction(1, 1)
    keyed = [e.timestamp for e in entries if e.is_keyframe]
    if not keyed:
        return _scan_keyframes(path, first_pts)
    origin = entries[0].timestamp
    pts: list[int | None] | None = None
    if container is not None and stream.codec_context.has_b_frames:
        pts = [peek_keyframe_pts(container, stream, seek_ts(ts, origin, first_pts))
               for ts in keyed]
    return keyframes_from_entries(keyed, origin, first_pts, tb, pts)


def seek_ts(index_ts: int, origin: int, first_pts: int) -> int:
    """The timestamp `container.seek` needs to land on the keyframe indexed at `index_ts`:
    the index's own scale, shifted so its first entry is the first frame's pts (what
    FFmpeg's MP4 and MKV demuxers search; measured per keyframe on a VFR file)."""
    return first_pts + index_ts - origin


def keyframes_from_entries(
    index_ts: Sequence[int], origin: int, first_pts: int, tb: Fraction,
    key_pts: Sequence[int | None] | None = None,
) -> tuple[Keyframe, ...]:
    """Keyframes of index entries: seek at `seek_ts`; display time from the keyframe's
    own pts when known (`key_pts`, one per entry), else the index's (decode) time.

    >>> tb = Fraction(1, 16000)  # an MP4 with B-frames: dts -2272, pts 0 ...
    >>> [k.time for k in keyframes_from_entries([-2272, 93872], -2272, 0, tb, [0, 95600])]
    [0.0, 5.975]
    """
    pts = list(key_pts) if key_pts is not None else [None] * len(index_ts)
    out = []
    for ts, shown in zip(index_ts, pts, strict=True):
        seek = seek_ts(ts, origin, first_pts)
        out.append(Keyframe(float(((shown if shown is not None else seek) - first_pts) * tb),
                            seek))
    return tuple(sorted(out, key=lambda k: k.time))


def peek_keyframe_pts(container: InputContainer, stream: VideoStream, ts: int) -> int | None:
    """The pts of the packet a seek to `ts` lands on, if it is a keyframe (demux only)."""
    try:
        container.seek(ts, stream=stream, backward=True)
        packet = next((p for p in container.demux(stream) if p.pts is not None), None)
    except av.error.FFmpegError:
        return None
    return packet.pts if packet is not None and packet.is_keyframe else None


def _scan_keyframes(path: Path, first_pts: int) -> tuple[Keyframe, ...]:
    out: list[Keyframe] = []
    with open_input(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 1)
        for packet in container.demux(stream):
            if packet.is_keyframe and packet.pts is not None:
                out.append(Keyframe(float((packet.pts - first_pts) * tb), packet.pts))
    return tuple(sorted(out, key=lambda k: k.time))


def scan_packets(path: str | Path) -> PacketScan:
    """Demux (no decoding) every video packet: all frame times and keyframe times."""
    times: list[float] = []
    keys: list[float] = []
    with open_input(path) as container:
        stream = container.streams.video[0]
        tb = stream.time_base or Fraction(1, 1)
        for packet in container.demux(stream):
            if packet.pts is None:
                continue
            t = float(packet.pts * tb)
            times.append(t)
            if packet.is_keyframe:
                keys.append(t)
    origin = min(times) if times else 0.0
    return PacketScan(
        frame_times=tuple(sorted(t - origin for t in times)),
        keyframe_times=tuple(sorted(t - origin for t in keys)),
    )


def decode_floor(scan: PacketScan, times: list[float]) -> int:
    """Fewest frames any decoder must output to show the frames nearest `times`.

    Each target needs every frame in display order from the last keyframe at or
    before it up to it; the floor is the size of the union of those spans.
    """
    frames = scan.frame_times
    keys = [bisect.bisect_left(frames, k - 1e-9) for k in scan.keyframe_times]
    needed: set[int] = set()
    for t in times:
        j = _nearest(frames, t)
        k = keys[max(0, bisect.bisect_right(keys, j) - 1)]
        needed.update(range(k, j + 1))
    return len(needed)


def _nearest(frames: tuple[float, ...], t: float) -> int:
    i = bisect.bisect_left(frames, t)
    if i == 0:
        return 0
    if i == len(frames) or t - frames[i - 1] <= frames[i] - t:
        return i - 1
    return i


def snap_to_frames(frames: Sequence[float], times: Sequence[float]) -> list[float]:
    """Each target replaced by the nearest frame time (sorted `frames`; ties: earlier).

    >>> snap_to_frames([0.0, 0.1, 0.3], [0.04, 0.19, 0.26, 9.0])
    [0.0, 0.1, 0.3, 0.3]
    """
    table = tuple(frames)
    return [table[_nearest(table, t)] for t in times]
