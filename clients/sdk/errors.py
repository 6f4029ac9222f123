"""The SDK's exception tree, mirroring the gateway's one error shape (docs/API.md).

Every error the SDK raises is an `O3Error`::

    O3Error
    ├── APIError                      the server answered with a non-2xx status
    │   ├── BadRequestError           400, 409, 422 (invalid_request_error)
    │   ├── AuthenticationError       401, 403
    │   ├── NotFoundError             404 (video_not_found, job_not_found, ...)
    │   ├── PayloadTooLargeError      413 (upload over the size cap)
    │   ├── UnsupportedMediaError     415 (not a decodable video)
    │   ├── RateLimitError            429 (retried first, honouring Retry-After)
    │   ├── DeadlineExceededError     504 (the model did not answer in time)
    │   ├── ServiceUnavailableError   503 (retried first, honouring Retry-After)
    │   └── ServerError               500, 502 and any other status
    ├── APIConnectionError            no HTTP answer at all (refused, reset, DNS)
    │   └── APITimeoutError           the client's own timeout expired
    ├── JobCancelledError             a job the client waited on was cancelled
    └── JobWaitTimeout                `wait_for_job` gave up before the job ended

Invariants: `APIError` always carries the HTTP `status`, the server's `code`,
`message` and `param` (None when absent) and the response's `X-Request-ID`.
A failed job raises the `APIError` subclass its error body's `type` names.
"""

from __future__ import annotations

from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx


class O3Error(Exception):
    """Base of everything the SDK raises."""


class APIError(O3Error):
    """The server answered with an error status and (usually) an error body."""

    def __init__(
        self,
        message: str,
        *,
        status: int,
        code: str | None = None,
        param: str | None = None,
        request_id: str | None = None,
        type: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.code = code
        self.param = param
        self.request_id = request_id
        self.type = type

    def __str__(self) -> str:
        code = f" {self.code}" if self.code else ""
        rid = f" (request {self.request_id})" if self.request_id else ""
        return f"[{self.status}{code}] {self.message}{rid}"


class BadRequestError(APIError):
    """400/409/422: the request is invalid; fix it before retrying."""


class AuthenticationError(APIError):
    """401/403: missing or wrong API key."""


class NotFoundError(APIError):
    """404: the video, job or route does not exist."""


class PayloadTooLargeError(APIError):
    """413: the upload is over the server's size cap."""


class UnsupportedMediaError(APIError):
    """415: the bytes are not a video the server can decode."""


class RateLimitError(APIError):
    """429: too many requests; `retry_after` is the server's hint in seconds."""

    retry_after: float | None = None


class DeadlineExceededError(APIError):
    """504: the server (or its model) timed out."""


class ServiceUnavailableError(APIError):
    """503: the server is overloaded or its backend is not ready."""

    retry_after: float | None = None


class ServerError(APIError):
    """500/502 and any other unexpected status."""


class APIConnectionError(O3Error):
    """No HTTP answer: the connection failed or broke."""


class APITimeoutError(APIConnectionError):
    """The client's own timeout expired before an answer arrived."""


class JobCancelledError(O3Error):
    """The job being waited on ended as `cancelled`."""

    def __init__(self, job_id: str) -> None:
        super().__init__(f"job {job_id} was cancelled")
        self.job_id = job_id


class JobWaitTimeout(O3Error):
    """`wait_for_job` reached its own deadline; the job may still finish later."""

    def __init__(self, job_id: str, status: str, waited: float) -> None:
        super().__init__(f"job {job_id} still {status} after {waited:.1f}s")
        self.job_id = job_id
        self.status = status


_BY_STATUS: dict[int, type[APIError]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: AuthenticationError,
    404: NotFoundError,
    409: BadRequestError,
    413: PayloadTooLargeError,
    415: UnsupportedMediaError,
    422: BadRequestError,
    429: RateLimitError,
    503: ServiceUnavailableError,
    504: DeadlineExceededError,
}

_STATUS_BY_TYPE: dict[str, int] = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "rate_limit_error": 429,
    "timeout_error": 504,
    "service_unavailable": 503,
    "server_error": 500,
}


def error_class(status: int) -> type[APIError]:
    """The exception class for an HTTP status (ServerError for anything unlisted)."""
    return _BY_STATUS.get(status, ServerError)


def error_from_response(response: httpx.Response) -> APIError:
    """Build the typed error for a non-2xx response; never raises on odd bodies."""
    body = _error_body(response)
    message = str(body.get("message") or response.reason_phrase or "HTTP error")
    err = error_class(response.status_code)(
        message,
        status=response.status_code,
        code=_opt_str(body.get("code")),
        param=_opt_str(body.get("param")),
        request_id=response.headers.get("x-request-id"),
        type=_opt_str(body.get("type")),
    )
    if isinstance(err, RateLimitError | ServiceUnavailableError):
        err.retry_after = parse_retry_after(response.headers.get("retry-after"))
    return err


def error_from_body(body: dict[str, Any], request_id: str | None = None) -> APIError:
    """Build the typed error for an error body with no HTTP status (a failed job)."""
    status = _STATUS_BY_TYPE.get(str(body.get("type")), 500)
    if body.get("code") == "video_not_found":
        status = 404
    return error_class(status)(
        str(body.get("message") or "job failed"),
        status=status,
        code=_opt_str(body.get("code")),
        param=_opt_str(body.get("param")),
        request_id=request_id,
        type=_opt_str(body.get("type")),
    )


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a Retry-After header (delta-seconds, or an HTTP date); None if absent."""
    if value is None or not value.strip():
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - datetime.now(UTC)).total_seconds())


def _error_body(response: httpx.Response) -> dict[str, Any]:
    try:
        data = response.json()
    except ValueError:
        return {"message": response.text[:500] or None}
    if isinstance(data, dict) and isinstance(data.get("error"), dict):
        return dict(data["error"])
    if isinstance(data, dict) and "detail" in data:  # a bare FastAPI error, just in case
        return {"message": str(data["detail"])}
    return {}


def _opt_str(value: object) -> str | None:
    return None if value is None else str(value)
