"""The gateway's one door to `service.video`: store, probe and sample by video id.

Owns nothing of the video logic (that is `service.video`'s); it adds what a server
needs around it: blocking PyAV work runs in worker threads, the limits come from
settings, and probe results are memoised per video id (a video's bytes never change
under its sha256 id, so its probe never does either).
"""

from __future__ import annotations

import asyncio
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path

from service.settings import Settings
from service.video.framecache import CachedVideoFrames, FrameCache
from service.video.frameset import FrameSet
from service.video.policy import FramePolicy
from service.video.probe import VideoInfo, VideoLimits, probe_video
from service.video.sampler import sample_video
from service.video.store import StoredVideo, VideoStore


class Media:
    def __init__(self, settings: Settings, *, probe_cache: int = 256) -> None:
        self.limits = VideoLimits(max_duration_s=settings.max_duration_s,
                                  max_pixels=settings.max_pixels,
                                  max_bytes=settings.max_upload_bytes)
        self.store = VideoStore(settings.videos_dir, max_bytes=settings.max_upload_bytes)
        self._infos: OrderedDict[str, VideoInfo] = OrderedDict()
        self._probe_cache = probe_cache
        # decoded frames of searches (by bytes); uniform requests do not use it
        self.frames = FrameCache(settings.frame_cache_bytes)

    def path(self, video_id: str) -> Path:
        """The stored file of `video_id` (raises the store's not-found / invalid-id error)."""
        return self.store.get(video_id).path

    async def save(self, chunks: AsyncIterator[bytes]) -> StoredVideo:
        return await self.store.save_stream(chunks)

    async def delete(self, video_id: str) -> bool:
        self._infos.pop(video_id, None)
        self.frames.drop_video(video_id)
        return await asyncio.to_thread(self.store.delete, video_id)

    async def probe(self, video_id: str) -> VideoInfo:
        info = self._infos.get(video_id)
        if info is None:
            info = await asyncio.to_thread(probe_video, self.path(video_id), self.limits)
            self._infos[video_id] = info
            while len(self._infos) > self._probe_cache:
                self._infos.popitem(last=False)
        return info

    async def sample(self, video_id: str, info: VideoInfo, policy: FramePolicy) -> FrameSet:
        sampled = await asyncio.to_thread(sample_video, self.path(video_id), policy,
                                          self.limits, info)
        return sampled.frameset

    def frame_source(self, video_id: str, info: VideoInfo,
                     fed_size: tuple[int, int]) -> CachedVideoFrames:
        """Frames of `video_id` at `fed_size` by time, through the shared frame cache."""
        return CachedVideoFrames(self.path(video_id), info, fed_size, self.frames, video_id)
