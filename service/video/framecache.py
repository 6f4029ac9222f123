"""Decoded frames kept per video, bounded by bytes, so no frame is decoded twice.

Owns `FrameCache` (thread-safe LRU of fed-size frames, by byte size) and
`CachedVideoFrames` (one video at one fed size: frames by time, decoding only the
ones the cache lacks, through the sampler's decoder `decode.decode_at`).

Invariants:
- A frame's key is (video key, frame index, fed size); the frame index of a time is
  `round(t * fps)`, so two requests for the same frame share one entry whatever time
  inside that frame they asked for.
- The cache never holds more than `max_bytes` of pixels (width x height x 3 per RGB
  frame); the least recently used frames go first. A frame larger than the whole
  budget is returned but not kept.
- Decoding happens in one `decode_at` call per request for the missing frames
  (sorted, so the decoder seeks only when it saves work); the stats count what the
  decoder produced and what the cache served.
- Synchronous and CPU-bound: async callers use `frames_async` (a worker thread).
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from service.grounding.types import FrameSetMeta
from service.video.decode import DecodedFrame, decode_at
from service.video.frameset import FrameSet
from service.video.probe import VideoInfo

Key = tuple[str, int, tuple[int, int]]


@dataclass
class CacheStats:
    decoded: int = 0     # frames the decoder produced (floor-bound, see decode.py)
    reused: int = 0      # frames answered from the cache
    evicted: int = 0


class FrameCache:
    """LRU of decoded frames, bounded by bytes; shared by every request of a process."""

    def __init__(self, max_bytes: int) -> None:
        self.max_bytes = max_bytes
        self._frames: OrderedDict[Key, DecodedFrame] = OrderedDict()
        self._bytes = 0
        self._lock = threading.Lock()
        self.stats = CacheStats()

    @property
    def bytes_used(self) -> int:
        return self._bytes

    def __len__(self) -> int:
        return len(self._frames)

    def get(self, key: Key) -> DecodedFrame | None:
        with self._lock:
            frame = self._frames.get(key)
            if frame is not None:
                self._frames.move_to_end(key)
            return frame

    def put(self, key: Key, frame: DecodedFrame) -> None:
        size = _nbytes(frame.image)
        with self._lock:
            if size > self.max_bytes or key in self._frames:
                return
            self._frames[key] = frame
            self._bytes += size
            while self._bytes > self.max_bytes:
                _, old = self._frames.popitem(last=False)
                self._bytes -= _nbytes(old.image)
                self.stats.evicted += 1

    def drop_video(self, video_key: str) -> None:
        with self._lock:
            for key in [k for k in self._frames if k[0] == video_key]:
                self._bytes -= _nbytes(self._frames.pop(key).image)


def _nbytes(image: Image.Image) -> int:
    return image.width * image.height * len(image.getbands())


class CachedVideoFrames:
    """Frames of one video at `fed_size` by time, through a shared `FrameCache`.

    Implements the search's `FrameSource` protocol; `stats` counts this object's own
    decodes and cache hits (a per-request view of the shared cache)."""

    def __init__(self, path: str | Path, info: VideoInfo, fed_size: tuple[int, int],
                 cache: FrameCache, video_key: str) -> None:
        self.path, self.info, self.fed_size = Path(path), info, fed_size
        self.cache, self.video_key = cache, video_key
        self.stats = CacheStats()
        self._lock = threading.Lock()
        self._fed_times: set[float] = set()

    @property
    def duration(self) -> float:
        return self.info.duration

    @property
    def keyframe_times(self) -> tuple[float, ...]:
        return self.info.keyframe_times

    def counts(self) -> tuple[int, int]:
        """(frames decoded, frames served from the cache) by this object so far."""
        with self._lock:
            return self.stats.decoded, self.stats.reused

    def index_of(self, t: float) -> int:
        last = max(0, self.info.frame_count - 1)
        return min(max(0, round(t * self.info.fps)), last)

    def frames_at(self, times: Sequence[float]) -> FrameSet:
        """A FrameSet of the frames nearest `times` (sorted, one per distinct frame)."""
        indices = sorted({self.index_of(t) for t in times})
        found: dict[int, DecodedFrame] = {}
        for i in indices:
            got = self.cache.get(self._key(i))
            if got is not None:
                found[i] = got
        missing = [i for i in indices if i not in found]
        if missing:
            decoded, dstats = decode_at(self.path, self.info,
                                        [i / self.info.fps for i in missing], self.fed_size)
            for i, frame in zip(missing, decoded, strict=True):
                found[i] = frame
                self.cache.put(self._key(i), frame)
            self._count(decoded=dstats.decoded_frames)
        self._count(reused=len(indices) - len(missing))
        with self._lock:
            self._fed_times.update(found[i].time for i in indices)
        return self._frameset([found[i] for i in indices], indices)

    def fed_times(self) -> tuple[float, ...]:
        """Every frame time this object has served (the decode floor's targets)."""
        with self._lock:
            return tuple(sorted(self._fed_times))

    async def frames(self, times: Sequence[float]) -> FrameSet:
        return await asyncio.to_thread(self.frames_at, times)

    def _key(self, index: int) -> Key:
        return (self.video_key, index, self.fed_size)

    def _count(self, *, decoded: int = 0, reused: int = 0) -> None:
        with self._lock:
            self.stats.decoded += decoded
            self.stats.reused += reused
        with self.cache._lock:
            self.cache.stats.decoded += decoded
            self.cache.stats.reused += reused

    def _frameset(self, frames: list[DecodedFrame], indices: list[int]) -> FrameSet:
        info = self.info
        meta = FrameSetMeta(times=tuple(f.time for f in frames), fed_size=self.fed_size,
                            orig_size=(info.width, info.height), rotation=info.rotation,
                            duration=info.duration, frame_indices=tuple(indices))
        return FrameSet([f.image for f in frames], meta)
