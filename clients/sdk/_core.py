"""What the sync and async clients share: retry policy, request bodies, input kinds.

Nothing here does I/O, so both clients stay thin loops around these functions.

Invariants:
- Only 429 and 503 answers, and connection failures that happened before the request
  was sent (connect errors), are retried; at most `max_retries` times.
- A server's Retry-After is honoured but capped at `max_delay`; without one the wait
  is exponential backoff with jitter, also capped.
"""

from __future__ import annotations

import os
import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO, Literal, TypeVar

import httpx
from pydantic import BaseModel

from clients.sdk.errors import (
    APIError,
    RateLimitError,
    ServiceUnavailableError,
    error_from_response,
)

M = TypeVar("M", bound=BaseModel)

DEFAULT_BASE_URL = "http://127.0.0.1:8000"
_SHA256 = re.compile(r"^[0-9a-f]{64}$")


@dataclass(frozen=True)
class RetryPolicy:
    """How many times and how long to wait before retrying a refused request."""

    max_retries: int = 3
    base_delay: float = 0.5
    max_delay: float = 30.0

    def delay(self, attempt: int, error: BaseException) -> float | None:
        """Seconds to wait before retry number `attempt + 1`, or None to give up."""
        if attempt >= self.max_retries or not retryable(error):
            return None
        hint: object = getattr(error, "retry_after", None)
        if isinstance(hint, int | float):
            return min(float(hint), self.max_delay)
        backoff = self.base_delay * 2.0**attempt
        return min(backoff * (0.5 + random.random() / 2), self.max_delay)


def retryable(error: BaseException) -> bool:
    """429, 503 and connect errors (nothing was sent) are safe to retry."""
    if isinstance(error, RateLimitError | ServiceUnavailableError):
        return True
    return isinstance(error, httpx.ConnectError)


def raise_for_status(response: httpx.Response) -> None:
    """Raise the typed `APIError` for any non-2xx response."""
    if response.is_success:
        return
    raise error_from_response(response)


def auth_headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Bearer {api_key}"} if api_key else {}


def resolve_base_url(base_url: str | None) -> str:
    return (base_url or os.environ.get("O3_SERVER") or DEFAULT_BASE_URL).rstrip("/")


def resolve_api_key(api_key: str | None) -> str | None:
    return api_key if api_key is not None else os.environ.get("O3_API_KEY") or None


VideoKind = Literal["id", "url", "upload"]


def classify_video(video: object) -> tuple[VideoKind, Any]:
    """Decide how a `video` argument reaches the server.

    A 64-character hex string is a stored video id; an http(s) string is a `video_url`;
    an existing path, bytes or a binary file is uploaded first.
    """
    if isinstance(video, bytes | bytearray):
        return "upload", bytes(video)
    if isinstance(video, str) and _SHA256.match(video) and not Path(video).exists():
        return "id", video
    if isinstance(video, str) and video.startswith(("http://", "https://")):
        return "url", video
    if isinstance(video, str | os.PathLike):
        if not Path(video).is_file():
            raise FileNotFoundError(f"no such video file (nor a video id or URL): {video}")
        return "upload", Path(video)
    if hasattr(video, "read") and hasattr(video, "seek"):
        file: BinaryIO = video  # type: ignore[assignment]
        return "upload", file
    raise TypeError(f"video must be a path, bytes, a binary file or a video id, not {video!r}")


def parse_model(model: type[M], response: httpx.Response) -> M:
    """Validate a successful response body as `model` (a wire mismatch is an APIError)."""
    try:
        return model.model_validate(response.json())
    except ValueError as exc:
        raise APIError(
            f"unexpected response body for {model.__name__}: {exc}",
            status=response.status_code,
            code="invalid_response",
            request_id=response.headers.get("x-request-id"),
        ) from exc
