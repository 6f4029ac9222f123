"""Every video error carries the status and code the API contract promises."""

from __future__ import annotations

import pytest

from service.video import errors

# (class, HTTP status, stable code)
TABLE = [
    (errors.EmptyFile, 400, "empty_file"),  # nothing uploaded
    (errors.InvalidVideoId, 400, "invalid_video_id"),  # not a sha256: never a path
    (errors.VideoNotFound, 404, "video_not_found"),  # docs/API.md GET /v1/videos/{id}
    (errors.VideoTooLarge, 413, "video_too_large"),  # byte cap
    (errors.NotAVideo, 415, "not_a_video"),  # random bytes, image, audio only
    (errors.VideoTooLong, 422, "video_too_long"),  # docs/API.md example code
    (errors.DimensionsTooLarge, 422, "dimensions_too_large"),
    (errors.NoDecodableFrames, 422, "no_decodable_frames"),
    (errors.TruncatedVideo, 422, "truncated_video"),
    (errors.MissingTimestamps, 422, "missing_timestamps"),
    (errors.NoSubtitleStream, 422, "no_subtitle_stream"),
    (errors.UnreadableSubtitles, 422, "unreadable_subtitles"),  # corrupt subtitle stream
]


@pytest.mark.parametrize(("cls", "status", "code"), TABLE)
def test_status_and_code(cls: type[errors.VideoError], status: int, code: str) -> None:
    err = cls("a message")
    assert isinstance(err, errors.VideoError)
    assert (err.status, err.code, err.param, str(err)) == (status, code, "video", "a message")


def test_param_can_name_another_field() -> None:
    assert errors.InvalidVideoId("bad", param="video_id").param == "video_id"
