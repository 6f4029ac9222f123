"""A video's own subtitle stream (text subtitles: SRT, mov_text, ASS, WebVTT) -> cues.

Owns: demuxing and decoding the first subtitle stream with PyAV and turning each event
into a `grounding.subtitles.Cue` (start = packet pts, end = start + packet duration,
seconds from the container's start); ASS override tags (`{\\i1}`) are removed and line
breaks become spaces, as the SRT reader joins a cue's lines.

Invariants: bitmap subtitles (DVD/PGS) carry no text and give no cues; a video with no
subtitle stream raises `NoSubtitleStream` (422); the file is only read.
"""

from __future__ import annotations

import re
from fractions import Fraction
from pathlib import Path

from service.grounding.subtitles import Cue
from service.video.container import open_input
from service.video.errors import NoSubtitleStream

_ASS_TAG = re.compile(r"\{[^}]*\}")
MAX_CUES = 20_000


def read_subtitle_stream(path: str | Path) -> list[Cue]:
    with open_input(path) as container:
        if not container.streams.subtitles:
            raise NoSubtitleStream("the video has no subtitle stream (send `subtitles` text "
                                   "instead)", param="video_subtitles")
        stream = container.streams.subtitles[0]
        base = stream.time_base or Fraction(1, 1000)
        start = float(container.start_time or 0) / 1_000_000
        cues: list[Cue] = []
        for packet in container.demux(stream):
            if packet.pts is None or len(cues) >= MAX_CUES:
                continue
            t0 = float(packet.pts * base) - start
            t1 = t0 + float((packet.duration or 0) * base)
            text = " ".join(_text(sub) for sub in packet.decode()).strip()
            if text:
                cues.append(Cue(t0, t1, text))
    return sorted(cues, key=lambda c: (c.start, c.end))


def _text(sub: object) -> str:
    raw = getattr(sub, "dialogue", None) or getattr(sub, "text", None) or b""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    lines = _ASS_TAG.sub("", text).replace("\\N", "\n").split("\n")
    return " ".join(line.strip() for line in lines if line.strip())
