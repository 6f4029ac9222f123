"""The keyframe layout of a video stream, read without decoding.

Owns `Keyframe` (display time + the timestamp to hand to `container.seek`) and the
two ways to find them: the container's own index (MP4 sample tables, MKV cues, AVI
idx1), or, when the container has none, a demux-only packet scan that reads packet
flags and timestamps but decodes nothing. `scan_packets` also gives every frame's
display time, which the sampler benchmark uses to compute the decode floor exactly.

Invariant: keyframe `time`s are seconds relative to the stream's first frame, sorted,
and `seek_ts` is the keyframe's pts in the stream's time base (what `container.seek`
expects). MP4 indexes by dts, MKV by pts; the offset between the two is constant for
a stream (the decoder delay), so it is removed by measuring from the first entry.
"""

from __future__ import annotations

import bisect
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
from av.video.stream import VideoStream


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


def keyframes_from_index(stream: VideoStream, path: Path, first_pts: int) -> tuple[Keyframe, ...]:
    """Keyframes from the container index, else from a packet scan of `path`."""
    entries = list(stream.index_entries)
    tb = stream.time_base or Fraction(1, 1)
    keyed = [e for e in entries if e.is_keyframe]
    if keyed:
        origin = entries[0].timestamp
        return tuple(
            Keyframe(float((e.timestamp - origin) * tb), first_pts + e.timestamp - origin)
            for e in keyed
        )
    return _scan_keyframes(path, first_pts)


def _scan_keyframes(path: Path, first_pts: int) -> tuple[Keyframe, ...]:
    out: list[Keyframe] = []
    with av.open(str(path)) as container:
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
    with av.open(str(path)) as container:
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
