"""The gateway's one door to `service.video`: store, probe and sample by video id.

Owns nothing of the video logic (that is `service.video`'s); it adds what a server
needs around it: blocking PyAV work runs in worker threads, the limits come from
settings, probe results are memoised per video id (a video's bytes never change
under its id, so its probe never does either), and tenancy: `owned_path(who, id)` is
the only way a request's id reaches a file, and answers 404 for another tenant's id
exactly as for an absent one (admins see every tenant's).

Invariants: an upload is probed on its temp file before it is stored (see
`VideoStore`), so a stored video always probed once; a file that disappears under a
request (a concurrent DELETE) is `VideoNotFound` (404), never a FileNotFoundError.
The id key is O3_ID_SECRET, else a random key created once in O3_DATA_DIR/id-secret.
"""

from __future__ import annotations

import asyncio
import os
import secrets
from collections import OrderedDict
from collections.abc import AsyncIterator
from pathlib import Path

from PIL import Image

from service.grounding.subtitles import Cue
from service.grounding.types import FrameSetMeta
from service.inference.images import ImageDataError, from_data_url
from service.security.auth import Principal
from service.settings import Settings
from service.video.errors import VideoNotFound
from service.video.framecache import CachedVideoFrames, FrameCache
from service.video.frameset import FrameSet
from service.video.policy import FramePolicy, fit_size
from service.video.probe import VideoInfo, VideoLimits, probe_video
from service.video.sampler import sample_video
from service.video.store import StoredVideo, VideoStore
from service.video.subtitles import read_subtitle_stream


def id_key(settings: Settings) -> bytes:
    """O3_ID_SECRET, else the key kept in the data dir: written to a temp file and
    linked into place, so worker processes starting together all read one full key."""
    if settings.id_secret:
        return settings.id_secret.encode()
    path = settings.data_dir / "id-secret"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f"id-secret.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
        try:
            os.link(tmp, path)  # atomic: the first writer wins, complete
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
    return path.read_bytes().strip()


def _not_found(video_id: str) -> VideoNotFound:
    return VideoNotFound(f"no video with id {video_id}", param="video_id")


class Media:
    def __init__(self, settings: Settings, *, probe_cache: int = 256) -> None:
        self.limits = VideoLimits(max_duration_s=settings.max_duration_s,
                                  max_pixels=settings.max_pixels,
                                  max_bytes=settings.max_upload_bytes)
        self.store = VideoStore(settings.videos_dir, max_bytes=settings.max_upload_bytes,
                                id_key=id_key(settings))
        self.quota_bytes = settings.tenant_max_stored_bytes
        self._infos: OrderedDict[str, VideoInfo] = OrderedDict()
        self._probe_cache = probe_cache
        self.hwaccel = settings.video_hwaccel or None  # PyAV device type; None = software
        # decoded frames of searches (by bytes); uniform requests do not use it
        self.frames = FrameCache(settings.frame_cache_bytes)

    def path(self, video_id: str) -> Path:
        """The stored file of `video_id` (raises the store's not-found / invalid-id error)."""
        return self.store.get(video_id).path

    def owned_path(self, who: Principal, video_id: str) -> Path:
        """`path`, for a video of `who`'s tenant (or any video, for an admin); 404 else."""
        path = self.store.path_for(video_id)  # 400 for a malformed id, before the tenant
        if not who.admin and not self.store.owned_by(video_id, who.tenant):
            raise _not_found(video_id)
        return self.store.get_at(video_id, path).path

    async def save(self, chunks: AsyncIterator[bytes], who: Principal) -> StoredVideo:
        """Store an upload for `who`'s tenant; probed (limits) before it is kept."""
        left = None
        if self.quota_bytes > 0 and not who.admin:
            used = await asyncio.to_thread(self.store.usage, who.tenant)
            left = max(0, self.quota_bytes - used)
        infos: list[VideoInfo] = []

        def validate(tmp: Path) -> None:
            infos.append(probe_video(tmp, self.limits))

        stored = await self.store.save_stream(chunks, tenant=who.tenant, validate=validate,
                                              quota_left=left)
        if infos:
            self._remember(stored.id, infos[0])
        return stored

    async def delete(self, video_id: str) -> bool:
        self._infos.pop(video_id, None)
        self.frames.drop_video(video_id)
        return await asyncio.to_thread(self.store.delete, video_id)

    def _remember(self, video_id: str, info: VideoInfo) -> None:
        self._infos[video_id] = info
        while len(self._infos) > self._probe_cache:
            self._infos.popitem(last=False)

    async def probe(self, video_id: str) -> VideoInfo:
        info = self._infos.get(video_id)
        if info is None:
            try:
                info = await asyncio.to_thread(probe_video, self.path(video_id), self.limits)
            except FileNotFoundError as exc:  # deleted between the lookup and the open
                raise _not_found(video_id) from exc
            self._remember(video_id, info)
        return info

    async def sample(self, video_id: str, info: VideoInfo, policy: FramePolicy) -> FrameSet:
        try:
            sampled = await asyncio.to_thread(sample_video, self.path(video_id), policy,
                                              self.limits, info, hwaccel=self.hwaccel)
        except FileNotFoundError as exc:
            raise _not_found(video_id) from exc
        return sampled.frameset

    def frame_source(self, video_id: str, info: VideoInfo,
                     fed_size: tuple[int, int]) -> CachedVideoFrames:
        """Frames of `video_id` at `fed_size` by time, through the shared frame cache."""
        return CachedVideoFrames(self.path(video_id), info, fed_size, self.frames, video_id)

    async def subtitles(self, video_id: str) -> tuple[Cue, ...]:
        """The cues of the video's own subtitle stream (422 when it has none)."""
        return tuple(await asyncio.to_thread(read_subtitle_stream, self.path(video_id)))


def still_frameset(data_url: str, policy: FramePolicy) -> FrameSet:
    """A still image (data: URL) as a one-frame set: resized (bicubic) to the policy's
    pixel budget, `still=True` (image prompt), time 0. Raises `ImageDataError` (400)."""
    image = from_data_url(data_url)
    try:
        fed = fit_size(image.width, image.height, policy.min_pixels, policy.max_pixels)
    except ValueError as exc:  # an aspect ratio Qwen2.5-VL cannot take
        raise ImageDataError(str(exc)) from exc
    meta = FrameSetMeta(times=(0.0,), fed_size=fed, orig_size=image.size, still=True)
    return FrameSet([image.resize(fed, Image.Resampling.BICUBIC)], meta)
