"""A video's own subtitle stream (text subtitles: SRT, mov_text, ASS, WebVTT) -> cues.

Owns: demuxing and decoding the first subtitle stream with PyAV and turning each event
into a `grounding.subtitles.Cue` (start = packet pts, end = start + packet duration,
seconds from the container's start); ASS override tags (`{\\i1}`) are removed and line
breaks become spaces, as the SRT reader joins a cue's lines.

Invariants: bitmap subtitles (DVD/PGS) carry no text and give no cues; a video with no
subtitle stream raises `NoSubtitleStream` (422); the file is only read. A damaged stream
is read as a player would: a packet that does not decode is skipped, and a demux error
ends the stream there (both logged); only when that leaves no cue at all is it
`UnreadableSubtitles` (422). No FFmpeg error escapes (fuzzed: see
tests/integration/video/test_subtitle_stream.py).
"""

from __future__ import annotations

import logging
import re
from fractions import Fraction
from pathlib import Path

import av.error
from av.container import InputContainer
from av.packet import Packet
from av.subtitles.stream import SubtitleStream

from service.grounding.subtitles import Cue
from service.video.container import open_input
from service.video.errors import NoSubtitleStream, UnreadableSubtitles

log = logging.getLogger(__name__)

_ASS_TAG = re.compile(r"\{[^}]*\}")
MAX_CUES = 20_000


def read_subtitle_stream(path: str | Path) -> list[Cue]:
    with open_input(path) as container:
        if not container.streams.subtitles:
            raise NoSubtitleStream("the video has no subtitle stream (send `subtitles` text "
                                   "instead)", param="video_subtitles")
        reading = _Reading(container, container.streams.subtitles[0])
        try:
            for packet in container.demux(reading.stream):
                reading.add(packet)
        except av.error.FFmpegError as err:  # the container is damaged from here on
            reading.damage = f"demuxing stopped: {err}"
    _report_damage(path, reading)
    return sorted(reading.cues, key=lambda c: (c.start, c.end))


class _Reading:
    """The cues read so far from one subtitle stream, and what was skipped."""

    def __init__(self, container: InputContainer, stream: SubtitleStream) -> None:
        self.stream = stream
        self.base = stream.time_base or Fraction(1, 1000)
        self.start = float(container.start_time or 0) / 1_000_000
        self.cues: list[Cue] = []
        self.skipped = 0
        self.damage = ""

    def add(self, packet: Packet[SubtitleStream]) -> None:
        if packet.pts is None or len(self.cues) >= MAX_CUES:
            return
        try:
            subs = packet.decode()
        except av.error.FFmpegError as err:  # this packet only; later ones may be fine
            self.skipped, self.damage = self.skipped + 1, str(err)
            return
        t0 = float(packet.pts * self.base) - self.start
        t1 = t0 + float((packet.duration or 0) * self.base)
        text = " ".join(_text(sub) for sub in subs).strip()
        if text:
            self.cues.append(Cue(t0, t1, text))


def _report_damage(path: str | Path, reading: _Reading) -> None:
    if not reading.damage:
        return
    if not reading.cues:
        raise UnreadableSubtitles(
            f"the video's subtitle stream cannot be read ({reading.damage}); send "
            "`subtitles` text instead", param="video_subtitles")
    log.warning("subtitle stream of %s is damaged: %d packet(s) skipped, %s; kept %d cues",
                Path(path).name, reading.skipped, reading.damage, len(reading.cues))


def _text(sub: object) -> str:
    raw = getattr(sub, "dialogue", None) or getattr(sub, "text", None) or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    lines = _ASS_TAG.sub("", text).replace("\\N", "\n").split("\n")
    return " ".join(line.strip() for line in lines if line.strip())
