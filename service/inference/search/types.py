"""Value types of the search: its options in, its record and progress out.

Owns `SearchOptions`, `Chunk`, `ChunkScore`, `Window`, `SearchRecord`,
`SearchProgress` and the `FrameSource` protocol.

Invariants:
- Every time is absolute video time in seconds (the frame labels the model sees are
  absolute too), so nothing downstream has to shift times back.
- `SearchOptions` validates itself: a bad knob raises `ValueError` naming it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from service.inference.backend import Usage
from service.video.frameset import FrameSet


@dataclass(frozen=True)
class SearchOptions:
    """The knobs of one search (defaults: `Settings.search_*`)."""

    chunk_s: float = 32.0          # seconds of video per scan chunk
    frames_per_chunk: int = 16     # frames the model sees per chunk
    windows: int = 2               # windows zoomed into
    window_s: float = 12.0         # seconds around the cited evidence per window
    zoom_frames: int = 32          # dense frames over all windows together
    context_frames: int = 4        # frames from the whole video added to the zoom set
    concurrency: int = 8           # chunk requests in flight at once
    scan_samples: int = 3          # traces per chunk (one prefill): the event's chunk is
    #                                lost only if ALL of them hallucinate (bench/README.md)
    keyframes_only: bool = True    # snap scan frames to keyframes (1 frame decoded each)

    def __post_init__(self) -> None:
        checks = {
            "chunk_s": self.chunk_s > 0, "frames_per_chunk": self.frames_per_chunk >= 1,
            "windows": self.windows >= 1, "window_s": self.window_s > 0,
            "zoom_frames": self.zoom_frames >= 1, "context_frames": self.context_frames >= 0,
            "concurrency": self.concurrency >= 1, "scan_samples": self.scan_samples >= 1,
        }
        bad = [k for k, ok in checks.items() if not ok]
        if bad:
            raise ValueError(f"invalid search option(s): {', '.join(bad)}")


@dataclass(frozen=True)
class Chunk:
    """A stretch [start, end) of the video and the frame times the scan feeds for it."""

    index: int
    start: float
    end: float
    times: tuple[float, ...]


@dataclass(frozen=True)
class ChunkScore:
    """A scanned chunk: its relevance in [0, 1] and the evidence times it cited."""

    start: float
    end: float
    score: float
    cited: tuple[float, ...] = ()
    frames: int = 0
    failed: bool = False


@dataclass(frozen=True)
class Window:
    start: float
    end: float
    score: float


@dataclass(frozen=True)
class SearchRecord:
    """What the search did: shown by the page (relevance strip) and the CLI."""

    chunks: tuple[ChunkScore, ...]
    windows: tuple[Window, ...]
    scan_calls: int = 0
    scan_frames: int = 0            # distinct frames fed to the scan
    zoom_frames: int = 0            # frames of the final (zoom) frame set
    frames_decoded: int = 0         # frames the decoder produced for this search
    frames_reused: int = 0          # frames served from the frame cache
    keyframes_only: bool = True
    scan_usage: Usage = field(default_factory=Usage)
    scan_s: float = 0.0
    zoom_s: float = 0.0


@dataclass(frozen=True)
class SearchProgress:
    stage: str                      # "scan", "zoom" or "done"
    chunks_scanned: int
    chunks_total: int


class FrameSource(Protocol):
    """Frames of ONE video at one fed size, by absolute time (a cache may sit behind)."""

    @property
    def duration(self) -> float: ...

    @property
    def keyframe_times(self) -> Sequence[float]: ...

    def counts(self) -> tuple[int, int]:
        """(frames decoded, frames served from the cache) so far."""
        ...

    async def frames(self, times: Sequence[float]) -> FrameSet: ...
