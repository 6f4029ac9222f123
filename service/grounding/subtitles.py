"""Subtitles: SRT / WebVTT text -> cues -> the lines shown to the model for its frames.

Owns: parsing subtitle files (strict: a malformed cue is an error naming its line),
choosing the cues that cover the fed frames, and the transcript text placed in the
prompt (`protocols.with_transcript` wraps it the way the release's VideoMME loader does).

Reading rules, equal to the release's `load_subtitles` on well-formed SRT (golden table
tests/golden/subtitles_srt.jsonl): cues are blocks separated by blank lines; a block is
an optional index line, a `start --> end` line, then text lines joined with one space;
`HH:MM:SS,mmm` is read as `h*3600 + m*60 + s + ms/1000` in that float order. Differences
(ours is stricter and cleaner): the release silently drops blocks with fewer than three
lines and keeps a trailing space when the file ends in a single newline; we refuse a
block with no timing line and strip the text. WebVTT: the `WEBVTT` header, `NOTE` /
`STYLE` / `REGION` blocks skipped, `MM:SS.mmm` or `HH:MM:SS.mmm`, cue settings after the
end time ignored, `<...>` markup removed.

Placement (the lmms-eval VideoMME rule the release's `extract_subtitles` serves): a cue
is shown when a fed frame's time t has start <= t < end; shown cues keep time order,
one a line.

Invariants: pure (no I/O); `parse_subtitles` raises only `SubtitleError`.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence
from dataclasses import dataclass

MAX_SUBTITLE_CHARS = 200_000

_SRT_TIME = re.compile(r"^(\d{1,2}):(\d{2}):(\d{2})[,.](\d{1,3})$")
_VTT_TIME = re.compile(r"^(?:(\d{1,2}):)?(\d{2}):(\d{2})\.(\d{3})$")
_TAG = re.compile(r"<[^>]*>")


@dataclass(frozen=True)
class Cue:
    start: float
    end: float
    text: str


class SubtitleError(ValueError):
    """A subtitle file that cannot be read; `line` is 1-based."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(f"subtitles line {line}: {message}")
        self.line = line


def parse_subtitles(text: str) -> list[Cue]:
    """SRT or WebVTT (detected by the `WEBVTT` header) -> cues in file order."""
    if len(text) > MAX_SUBTITLE_CHARS:
        raise SubtitleError(1, f"longer than {MAX_SUBTITLE_CHARS} characters")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").lstrip("\ufeff").split("\n")
    vtt = bool(lines) and lines[0].startswith("WEBVTT")
    cues = [_cue(block, vtt) for block in _blocks(lines, skip_header=vtt)]
    return [c for c in cues if c is not None]


def _blocks(lines: list[str], *, skip_header: bool) -> list[list[tuple[int, str]]]:
    blocks: list[list[tuple[int, str]]] = []
    current: list[tuple[int, str]] = []
    for no, line in enumerate(lines, start=1):
        if line.strip():
            current.append((no, line))
        elif current:
            blocks.append(current)
            current = []
    if current:
        blocks.append(current)
    return blocks[1:] if skip_header and blocks else blocks


def _cue(block: list[tuple[int, str]], vtt: bool) -> Cue | None:
    if vtt and block[0][1].split(" ")[0] in ("NOTE", "STYLE", "REGION"):
        return None
    timing = next((i for i, (_, line) in enumerate(block) if "-->" in line), None)
    if timing is None or timing > 1:
        raise SubtitleError(block[0][0], "expected a 'start --> end' timing line")
    no, line = block[timing]
    start_s, _, rest = line.partition("-->")
    end_s = rest.strip().split(" ")[0] if rest.strip() else ""
    start, end = _time(start_s.strip(), no, vtt), _time(end_s, no, vtt)
    if end < start:
        raise SubtitleError(no, "the cue ends before it starts")
    text = " ".join(t for _, t in block[timing + 1:])
    return Cue(start, end, _TAG.sub("", text).strip() if vtt else text.strip())


def _time(value: str, line: int, vtt: bool) -> float:
    m = (_VTT_TIME if vtt else _SRT_TIME).match(value)
    if m is None:
        form = "[HH:]MM:SS.mmm" if vtt else "HH:MM:SS,mmm"
        raise SubtitleError(line, f"bad time {value!r} (expected {form})")
    h, mi, s, ms = (float(g) if g else 0.0 for g in m.groups())
    return float(h * 3600 + mi * 60 + s + ms / 1000)


def cues_for_frames(cues: Sequence[Cue], times: Sequence[float]) -> list[Cue]:
    """The cues on screen at some fed frame time (start <= t < end), in time order."""
    grid = sorted(times)

    def on_screen(c: Cue) -> bool:  # the first frame at or after the start, before the end
        i = bisect.bisect_left(grid, c.start)
        return i < len(grid) and grid[i] < c.end

    return sorted((c for c in cues if on_screen(c)), key=lambda c: (c.start, c.end))


def transcript(cues: Sequence[Cue]) -> str:
    return "\n".join(c.text for c in cues)
