"""The SDK maps every error status and body to the documented exception tree."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from email.utils import format_datetime

import httpx
import pytest

from clients.sdk import errors as E
from clients.sdk._core import RetryPolicy, retryable


def _response(status: int, body: object, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.Response(status, json=body, headers=headers or {})


def _body(code: str, type_: str, param: str | None = None) -> dict[str, object]:
    return {"error": {"message": f"msg {code}", "type": type_, "param": param, "code": code}}


STATUS_CASES = [
    # (status, expected class) -- guards the mapping table in errors.py
    (400, E.BadRequestError),  # validation failure
    (401, E.AuthenticationError),  # missing key
    (403, E.AuthenticationError),  # key without rights
    (404, E.NotFoundError),  # unknown video/job
    (409, E.BadRequestError),  # conflicting state (cancel a finished job)
    (413, E.PayloadTooLargeError),  # upload over the cap
    (415, E.UnsupportedMediaError),  # not a video
    (422, E.BadRequestError),  # a framework validation error
    (429, E.RateLimitError),  # over the concurrency limit
    (500, E.ServerError),  # bug on the server
    (502, E.ServerError),  # backend error
    (503, E.ServiceUnavailableError),  # backend down / not ready
    (504, E.DeadlineExceededError),  # model too slow
    (418, E.ServerError),  # an unlisted status still becomes an APIError
]


@pytest.mark.parametrize(("status", "cls"), STATUS_CASES)
def test_status_maps_to_class(status: int, cls: type[E.APIError]) -> None:
    resp = _response(status, _body("some_code", "x", "video"), {"x-request-id": "rid-1"})
    err = E.error_from_response(resp)
    assert type(err) is cls
    assert isinstance(err, E.APIError) and isinstance(err, E.O3Error)
    assert (err.status, err.code, err.param, err.request_id) == (
        status,
        "some_code",
        "video",
        "rid-1",
    )
    assert err.message == "msg some_code"
    assert "some_code" in str(err) and "rid-1" in str(err)


ODD_BODIES = [
    # (body, expected message fragment) -- the SDK never crashes on odd error bodies
    ("plain text oops", "plain text oops"),  # not JSON at all
    ({"detail": "Not Found"}, "Not Found"),  # a bare FastAPI error
    ({"error": "a string"}, "Bad Request"),  # unexpected shape -> reason phrase
    ([], "Bad Request"),  # a JSON list
]


@pytest.mark.parametrize(("body", "fragment"), ODD_BODIES)
def test_odd_bodies_still_map(body: object, fragment: str) -> None:
    resp = httpx.Response(400, text=body) if isinstance(body, str) else _response(400, body)
    err = E.error_from_response(resp)
    assert isinstance(err, E.BadRequestError)
    assert fragment in err.message


def test_retry_after_seconds_and_date() -> None:
    later = datetime.now(UTC) + timedelta(seconds=20)
    cases = [
        ("3", 3.0),  # delta-seconds
        ("0.25", 0.25),  # fractional (some servers send it)
        ("", None),  # empty header
        ("soon", None),  # garbage
        ("-5", 0.0),  # negative clamps to zero
    ]
    for header, expected in cases:
        assert E.parse_retry_after(header) == expected, header
    from_date = E.parse_retry_after(format_datetime(later, usegmt=True))
    assert from_date is not None and 17 <= from_date <= 20  # HTTP-date form


def test_rate_limit_error_carries_retry_after() -> None:
    err = E.error_from_response(
        _response(429, _body("busy", "rate_limit_error"), {"Retry-After": "7"})
    )
    assert isinstance(err, E.RateLimitError) and err.retry_after == 7.0


JOB_BODIES = [
    # (error body of a failed job, expected class, status)
    ({"type": "timeout_error", "code": "backend_timeout", "message": "m"},
     E.DeadlineExceededError, 504),
    ({"type": "invalid_request_error", "code": "video_not_found"}, E.NotFoundError, 404),
    ({"type": "invalid_request_error", "code": "prompt_too_long"}, E.BadRequestError, 400),
    (
        {"type": "service_unavailable", "code": "backend_unavailable"},
        E.ServiceUnavailableError,
        503,
    ),
    ({"type": "server_error"}, E.ServerError, 500),
    ({}, E.ServerError, 500),  # empty body: still an error, never a crash
]


@pytest.mark.parametrize(("body", "cls", "status"), JOB_BODIES)
def test_failed_job_body_maps(body: dict[str, object], cls: type[E.APIError], status: int) -> None:
    err = E.error_from_body(body)
    assert type(err) is cls and err.status == status


def _err(status: int, retry_after: str | None = None) -> E.APIError:
    headers = {"Retry-After": retry_after} if retry_after is not None else {}
    return E.error_from_response(_response(status, _body("c", "t"), headers))


def test_retry_policy_table() -> None:
    policy = RetryPolicy(max_retries=3, base_delay=0.5, max_delay=10.0)
    cases = [
        # (attempt, error, expected delay or None)
        (0, _err(429, "2"), 2.0),  # Retry-After honoured
        (0, _err(503, "120"), 10.0),  # ... but capped at max_delay
        (3, _err(429, "1"), None),  # out of retries
        (0, _err(400), None),  # client errors are never retried
        (0, _err(500), None),  # server bugs are not retried (not idempotent-safe)
        (0, _err(504), None),  # a timeout means work happened: not retried
        (0, E.APIConnectionError("x"), None),  # a broken connection may have sent the body
    ]
    for attempt, error, expected in cases:
        assert policy.delay(attempt, error) == expected, (attempt, error)


def test_backoff_without_hint_grows_and_is_bounded() -> None:
    policy = RetryPolicy(max_retries=10, base_delay=0.5, max_delay=3.0)
    delays = [policy.delay(a, _err(503)) for a in range(6)]
    assert all(d is not None for d in delays)
    assert 0.25 <= delays[0] <= 0.5  # type: ignore[operator]
    assert 1.0 <= delays[2] <= 2.0  # type: ignore[operator]
    assert delays[5] == pytest.approx(3.0, abs=1.6)  # capped (jitter halves at most)
    assert max(d for d in delays if d is not None) <= 3.0


def test_connect_errors_are_retryable() -> None:
    assert retryable(httpx.ConnectError("refused"))
    assert not retryable(httpx.ReadError("reset"))
