"""State and request plans shared by `Client` and `AsyncClient`.

A public method first builds a `Call` (method, path, body, how to parse the answer)
here, then the sync or async client executes it with retries. So the two clients
differ only in how they wait, never in what they send.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, fields
from typing import Any

import httpx

from clients.sdk._core import (
    RetryPolicy,
    auth_headers,
    resolve_api_key,
    resolve_base_url,
)
from clients.sdk.errors import (
    APIConnectionError,
    APITimeoutError,
    JobCancelledError,
    error_from_body,
)
from clients.sdk.models import Job, ReasonResult
from clients.sdk.upload import MultipartUpload, ProgressCallback

JobProgress = Callable[[Job, float], None]
"""Called as `progress(job, seconds_waited)` after every poll of a job."""

USER_AGENT = "o3-client/0.1"


@dataclass
class Call:
    """One planned HTTP exchange."""

    method: str
    path: str
    json: dict[str, Any] | None = None
    upload: MultipartUpload | None = None
    progress: ProgressCallback | None = None
    retry: bool = True
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ReasonOptions:
    """Everything `reason` sends besides the video and the question."""

    options: list[str] | None = None
    task: str | None = None
    n: int | None = None
    voting: str | None = None
    weight_mode: str | None = None
    abstain_below: float | None = None
    sampling: dict[str, Any] | None = None
    frames: dict[str, Any] | None = None
    return_traces: bool = False
    prompt: dict[str, Any] | None = None  # protocol and prompt overrides (top-level fields)
    strategy: str | None = None  # auto (server default), uniform or search
    search: dict[str, Any] | None = None  # search knobs (docs/SEARCH.md)

    def body(
        self, question: str, video_id: str | None, video_url: str | None, async_: bool
    ) -> dict[str, Any]:
        """The JSON body of `POST /v1/reason`: every option that is set (unset ones are
        left to the server); `prompt` (the protocol and prompt overrides: `protocol`,
        `system`, `instruction`, `preamble`, `subtitles`, `video_subtitles`; docs/API.md)
        is sent as top-level fields."""
        body: dict[str, Any] = {"video_id": video_id, "video_url": video_url,
                                "question": question}
        body |= {f.name: getattr(self, f.name) for f in fields(self)
                 if f.name not in ("prompt", "return_traces")}
        body |= {k: v for k, v in (self.prompt or {}).items() if k not in body}
        body = {k: v for k, v in body.items() if v is not None}
        body["return_traces"] = self.return_traces
        body["async"] = async_
        return body


class BaseClient:
    """Configuration common to both clients."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 120.0,
        max_retries: int = 3,
        max_retry_delay: float = 30.0,
    ) -> None:
        self.base_url = resolve_base_url(base_url)
        self.api_key = resolve_api_key(api_key)
        self.timeout = timeout
        self.retry_policy = RetryPolicy(max_retries=max_retries, max_delay=max_retry_delay)

    def _headers(self) -> dict[str, str]:
        return {"User-Agent": USER_AGENT, **auth_headers(self.api_key)}


class SSEJobs:
    """Reads the lines of `GET /v1/jobs/{id}/events`: `feed(line)` returns a `Job` when
    an event is complete (its blank line), else None. Comments are skipped."""

    def __init__(self) -> None:
        self._data: list[str] = []

    def feed(self, line: str) -> Job | None:
        if line.startswith("data:"):
            self._data.append(line[5:].strip())
        elif not line.strip() and self._data:
            body, self._data = "\n".join(self._data), []
            return Job.model_validate_json(body)
        return None


def job_from_reason(data: dict[str, Any]) -> Job | ReasonResult:
    """A `/v1/reason` answer is either a verdict (200) or a queued job (202)."""
    if data.get("object") == "job":
        return Job.model_validate(data)
    return ReasonResult.model_validate(data)


def job_outcome(job: Job) -> ReasonResult:
    """The result of a finished job, or the error it ended with."""
    if job.status == "cancelled":
        raise JobCancelledError(job.id)
    if job.status == "failed" or job.result is None:
        body = job.error.model_dump() if job.error else {"message": "job failed"}
        raise error_from_body(body)
    return job.result


def connection_error(exc: httpx.TransportError) -> APIConnectionError:
    if isinstance(exc, httpx.TimeoutException):
        return APITimeoutError(f"request timed out: {exc}")
    return APIConnectionError(f"connection failed: {exc}")


def surface(exc: BaseException) -> BaseException:
    """What the caller sees once retries are over: always an O3Error."""
    if isinstance(exc, httpx.TransportError):
        return connection_error(exc)
    return exc
