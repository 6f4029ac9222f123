"""Typed errors for everything that can be wrong with a video a user sent.

Each error carries the HTTP `status`, a stable snake_case `code` and the request
`param` it blames, so `service/api/errors.py` maps every one of them with a single
rule into the one error shape of docs/API.md. Messages are written for the person who
sent the file: they say what is wrong and, where a configured limit is the reason,
name the limit and the setting that raises it.

    VideoError
    ├── EmptyFile            400 empty_file
    ├── InvalidVideoId       400 invalid_video_id
    ├── VideoNotFound        404 video_not_found
    ├── VideoTooLarge        413 video_too_large        (bytes)
    ├── StorageQuotaExceeded 429 tenant_storage_quota   (the tenant's stored bytes)
    ├── StorageFull          507 storage_full           (the server's disk: ENOSPC, EDQUOT)
    ├── NotAVideo            415 not_a_video            (random bytes, still image, audio only)
    ├── VideoTooLong         422 video_too_long         (duration)
    ├── DimensionsTooLarge   422 dimensions_too_large   (pixels, aspect ratio)
    ├── NoDecodableFrames    422 no_decodable_frames
    ├── TruncatedVideo       422 truncated_video
    ├── MissingTimestamps    422 missing_timestamps
    ├── NoSubtitleStream     422 no_subtitle_stream     (video_subtitles asked, none there)
    └── UnreadableSubtitles  422 unreadable_subtitles   (a subtitle stream, none of it readable)
"""

from __future__ import annotations

from typing import ClassVar

DURATION_SETTING = "O3_MAX_DURATION_S"
PIXELS_SETTING = "O3_MAX_PIXELS"
BYTES_SETTING = "O3_MAX_UPLOAD_BYTES"


class VideoError(Exception):
    """Base of every video error; `str(err)` is the user-facing message."""

    status: ClassVar[int] = 422
    code: ClassVar[str] = "invalid_video"

    def __init__(self, message: str, *, param: str = "video") -> None:
        super().__init__(message)
        self.message = message
        self.param = param


class EmptyFile(VideoError):
    status = 400
    code = "empty_file"


class InvalidVideoId(VideoError):
    status = 400
    code = "invalid_video_id"


class VideoNotFound(VideoError):
    status = 404
    code = "video_not_found"


class VideoTooLarge(VideoError):
    status = 413
    code = "video_too_large"


class StorageQuotaExceeded(VideoError):
    status = 429
    code = "tenant_storage_quota"


class StorageFull(VideoError):
    status = 507
    code = "storage_full"


class NotAVideo(VideoError):
    status = 415
    code = "not_a_video"


class VideoTooLong(VideoError):
    status = 422
    code = "video_too_long"


class DimensionsTooLarge(VideoError):
    status = 422
    code = "dimensions_too_large"


class NoDecodableFrames(VideoError):
    status = 422
    code = "no_decodable_frames"


class TruncatedVideo(VideoError):
    status = 422
    code = "truncated_video"


class MissingTimestamps(VideoError):
    status = 422
    code = "missing_timestamps"


class NoSubtitleStream(VideoError):
    status = 422
    code = "no_subtitle_stream"


class UnreadableSubtitles(VideoError):
    status = 422
    code = "unreadable_subtitles"
