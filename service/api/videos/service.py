"""The videos service: store a stream as a content-addressed video, describe, delete.

A stored file that does not probe as a video (or breaks a limit) is deleted again
before the error is raised, so the store only keeps usable videos.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from service.api.media import Media
from service.api.videos.protocol import Video
from service.video.probe import VideoInfo


def video_out(video_id: str, size: int, info: VideoInfo) -> Video:
    return Video(id=video_id, bytes=size, duration=info.duration, fps=info.fps,
                 variable_frame_rate=info.variable_frame_rate, width=info.width,
                 height=info.height, rotation=info.rotation, codec=info.codec,
                 frame_count=info.frame_count, has_audio=info.has_audio)


class VideosService:
    def __init__(self, media: Media) -> None:
        self.media = media

    async def upload(self, chunks: AsyncIterator[bytes]) -> tuple[Video, bool]:
        """Store and probe; returns (video, created). Unusable files are not kept."""
        stored = await self.media.save(chunks)
        try:
            info = await self.media.probe(stored.id)
        except Exception:
            if stored.created:
                await self.media.delete(stored.id)
            raise
        return video_out(stored.id, stored.size, info), stored.created

    async def describe(self, video_id: str) -> Video:
        info = await self.media.probe(video_id)
        return video_out(video_id, self.media.path(video_id).stat().st_size, info)

    async def delete(self, video_id: str) -> None:
        self.media.path(video_id)  # raises not-found / invalid id
        await self.media.delete(video_id)
