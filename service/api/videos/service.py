"""The videos service: store a stream for a tenant, describe, delete. No FastAPI.

An upload is probed before it is stored (see `Media.save`), so the store only keeps
usable videos and nothing has to be deleted again when a file is refused. Every id
goes through `Media.owned_path`: another tenant's video is 404.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

from service.api.media import Media
from service.api.videos.protocol import Video
from service.security.auth import ANONYMOUS, Principal
from service.video.errors import VideoNotFound
from service.video.probe import VideoInfo


def video_out(video_id: str, size: int, info: VideoInfo) -> Video:
    return Video(id=video_id, bytes=size, duration=info.duration, fps=info.fps,
                 variable_frame_rate=info.variable_frame_rate, width=info.width,
                 height=info.height, rotation=info.rotation, codec=info.codec,
                 frame_count=info.frame_count, has_audio=info.has_audio)


class VideosService:
    def __init__(self, media: Media) -> None:
        self.media = media

    async def upload(self, chunks: AsyncIterator[bytes], who: Principal = ANONYMOUS
                     ) -> tuple[Video, bool]:
        """Store (probed first) for `who`'s tenant; returns (video, created)."""
        stored = await self.media.save(chunks, who)
        info = await self.media.probe(stored.id)
        return video_out(stored.id, stored.size, info), stored.created

    async def describe(self, video_id: str, who: Principal = ANONYMOUS) -> Video:
        path = self.media.owned_path(who, video_id)
        info = await self.media.probe(video_id)
        try:
            size = path.stat().st_size
        except FileNotFoundError as exc:
            raise VideoNotFound(f"no video with id {video_id}", param="video_id") from exc
        return video_out(video_id, size, info)

    async def delete(self, video_id: str, who: Principal = ANONYMOUS) -> None:
        self.media.owned_path(who, video_id)  # raises not-found / invalid id
        await self.media.delete(video_id)
