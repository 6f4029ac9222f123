"""Client and AsyncClient against httpx.MockTransport: routes, retries, jobs, progress.

`FakeGateway` is an honest in-memory double of the wire contract (docs/API.md) that
records every request; each test scripts the answers it needs.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.parser import BytesParser
from email.policy import HTTP
from pathlib import Path
from typing import Any

import httpx
import pytest

from clients.sdk import (
    APIConnectionError,
    APITimeoutError,
    AsyncClient,
    AuthenticationError,
    Client,
    DeadlineExceededError,
    JobCancelledError,
    JobWaitTimeout,
    NotFoundError,
    RateLimitError,
    ReasonResult,
    ServiceUnavailableError,
)

VID = "ab" * 32

RESULT: dict[str, Any] = {
    "id": "rsn_1",
    "object": "reason.result",
    "video_id": VID,
    "task": "mcq",
    "answer": "B",
    "confidence": 0.75,
    "votes": [{"answer": "B", "weight": 3.0, "votes": 3, "traces": [0, 1, 2]}],
    "evidence": [
        {
            "object": "square",
            "time": 1.5,
            "support": 2,
            "traces": [0, 1],
            "box": [10, 20, 30, 40],
            "box_normalized": [0.1, 0.2, 0.3, 0.4],
            "box_display_normalized": [0.1, 0.2, 0.3, 0.4],
            "box_fed": [5, 5, 9, 9],
        }
    ],
    "frames": {"times": [0.0, 1.5], "fed_size": [56, 56], "original_size": [100, 100]},
    "some_future_field": {"ignored": True},
}
VIDEO = {"id": VID, "object": "video", "bytes": 1000, "duration": 2.0, "width": 100}


def _err(status: int, code: str, type_: str = "invalid_request_error") -> dict[str, Any]:
    return {"error": {"message": f"failed: {code}", "type": type_, "param": None, "code": code}}


Handler = Callable[[httpx.Request], httpx.Response]


@dataclass
class FakeGateway:
    """Routes requests to per-route scripts; records (method, path, body) of each."""

    routes: dict[tuple[str, str], list[httpx.Response] | Handler] = field(default_factory=dict)
    seen: list[httpx.Request] = field(default_factory=list)
    bodies: list[bytes] = field(default_factory=list)

    def __call__(self, request: httpx.Request) -> httpx.Response:
        body = request.read()
        self.seen.append(request)
        self.bodies.append(body)
        script = self.routes.get((request.method, request.url.path))
        if script is None:
            return httpx.Response(404, json=_err(404, "route_not_found"))
        if callable(script):
            return script(request)
        return script.pop(0) if len(script) > 1 else script[0]

    def paths(self) -> list[str]:
        return [f"{r.method} {r.url.path}" for r in self.seen]


@pytest.fixture
def gw() -> FakeGateway:
    return FakeGateway()


@pytest.fixture
def client(gw: FakeGateway) -> Client:
    return Client("http://gw", api_key="k-123", transport=httpx.MockTransport(gw))


@pytest.fixture
def video_file(tmp_path: Path) -> Path:
    path = tmp_path / "clip.mp4"
    path.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"x" * 50_000)
    return path


def test_upload_streams_file_with_auth_and_progress(
    gw: FakeGateway, client: Client, video_file: Path
) -> None:
    gw.routes[("POST", "/v1/videos")] = [httpx.Response(201, json=VIDEO)]
    seen: list[tuple[int, int]] = []
    video = client.upload_video(video_file, progress=lambda s, t: seen.append((s, t)))
    assert video.id == VID and video.width == 100
    req = gw.seen[0]
    assert req.headers["authorization"] == "Bearer k-123"
    assert req.headers["content-length"] == str(len(gw.bodies[0]))
    assert "transfer-encoding" not in req.headers
    msg = BytesParser(policy=HTTP).parsebytes(
        f"Content-Type: {req.headers['content-type']}\r\n\r\n".encode() + gw.bodies[0]
    )
    (part,) = list(msg.iter_parts())
    assert part.get_payload(decode=True) == video_file.read_bytes()
    assert seen[-1] == (video_file.stat().st_size,) * 2


def test_reason_uploads_path_then_asks_by_id(
    gw: FakeGateway, client: Client, video_file: Path
) -> None:
    gw.routes[("POST", "/v1/videos")] = [httpx.Response(200, json=VIDEO)]
    gw.routes[("POST", "/v1/reason")] = [httpx.Response(200, json=RESULT)]
    res = client.reason(
        video_file,
        "Which?",
        options=["A. x", "B. y"],
        n=3,
        voting="majority",
        sampling={"temperature": 0.7},
        return_traces=True,
    )
    assert gw.paths() == ["POST /v1/videos", "POST /v1/reason"]
    body = json.loads(gw.bodies[1])
    assert body == {
        "video_id": VID,
        "question": "Which?",
        "options": ["A. x", "B. y"],
        "n": 3,
        "voting": "majority",
        "sampling": {"temperature": 0.7},
        "return_traces": True,
        "async": False,
    }
    assert isinstance(res, ReasonResult)
    assert res.answer == "B" and res.evidence[0].box == [10, 20, 30, 40]
    assert res.votes[0].traces == [0, 1, 2]


INPUT_KINDS = [
    # (video argument, expected first route, expected key in the reason body)
    (VID, "POST /v1/reason", "video_id"),  # a sha256 id: no upload
    ("https://example.com/v.mp4", "POST /v1/reason", "video_url"),  # a URL: the server fetches
    (b"rawbytes", "POST /v1/videos", "video_id"),  # bytes: uploaded first
]


@pytest.mark.parametrize(("video", "first", "key"), INPUT_KINDS)
def test_video_argument_kinds(
    gw: FakeGateway, client: Client, video: object, first: str, key: str
) -> None:
    gw.routes[("POST", "/v1/videos")] = [httpx.Response(201, json=VIDEO)]
    gw.routes[("POST", "/v1/reason")] = [httpx.Response(200, json=RESULT)]
    client.reason(video, "q")  # type: ignore[arg-type]
    assert gw.paths()[0] == first
    assert key in json.loads(gw.bodies[-1])


def test_unknown_string_is_rejected_before_any_request(gw: FakeGateway, client: Client) -> None:
    with pytest.raises(FileNotFoundError):
        client.reason("not/a/file.mp4", "q")
    assert gw.seen == []


def test_reason_202_polls_job_until_done(gw: FakeGateway, client: Client) -> None:
    job = {"id": "job_1", "object": "job", "status": "queued"}
    accepted = {"job_id": "job_1", "object": "job", "status": "queued"}  # docs/API.md 202 shape
    gw.routes[("POST", "/v1/reason")] = [httpx.Response(202, json=accepted)]
    gw.routes[("GET", "/v1/jobs/job_1")] = [
        httpx.Response(200, json={**job, "status": "running"}),
        httpx.Response(200, json={**job, "status": "done", "result": RESULT}),
    ]
    progress: list[str] = []
    res = client.reason(
        VID, "q", async_=True, poll=0.01, job_progress=lambda j, _t: progress.append(j.status)
    )
    assert json.loads(gw.bodies[0])["async"] is True
    assert res.answer == "B"
    assert progress == ["running", "done"]


JOB_ENDINGS = [
    # (final job object, expected exception)
    (
        {
            "status": "failed",
            "error": {"type": "timeout_error", "code": "backend_timeout", "message": "slow"},
        },
        DeadlineExceededError,
    ),  # typed from error body
    ({"status": "cancelled"}, JobCancelledError),  # cancelled by someone else
]


@pytest.mark.parametrize(("final", "exc"), JOB_ENDINGS)
def test_wait_for_job_raises_how_the_job_ended(
    gw: FakeGateway, client: Client, final: dict[str, Any], exc: type[Exception]
) -> None:
    gw.routes[("GET", "/v1/jobs/j")] = [httpx.Response(200, json={"id": "j", **final})]
    with pytest.raises(exc):
        client.wait_for_job("j", poll=0.01)


def test_wait_for_job_gives_up_at_its_timeout(gw: FakeGateway, client: Client) -> None:
    gw.routes[("GET", "/v1/jobs/j")] = [httpx.Response(200, json={"id": "j", "status": "running"})]
    start = time.monotonic()
    with pytest.raises(JobWaitTimeout):
        client.wait_for_job("j", poll=0.05, timeout=0.2)
    assert time.monotonic() - start < 1.0


def test_retry_honours_retry_after(gw: FakeGateway, client: Client) -> None:
    busy = httpx.Response(
        429, json=_err(429, "too_many_requests", "rate_limit_error"), headers={"Retry-After": "0.4"}
    )
    gw.routes[("GET", "/v1/models")] = [busy, httpx.Response(200, json={"data": [{"id": "m"}]})]
    start = time.monotonic()
    models = client.models()
    elapsed = time.monotonic() - start
    assert models.data[0].id == "m"
    assert len(gw.seen) == 2
    assert 0.4 <= elapsed < 2.0  # waited what the server asked, not the default backoff


def test_retries_are_bounded(gw: FakeGateway) -> None:
    gw.routes[("GET", "/v1/models")] = [
        httpx.Response(
            503, json=_err(503, "overloaded", "service_unavailable"), headers={"Retry-After": "0"}
        )
    ]
    client = Client("http://gw", max_retries=2, transport=httpx.MockTransport(gw))
    with pytest.raises(ServiceUnavailableError) as info:
        client.models()
    assert len(gw.seen) == 3  # first try + 2 retries
    assert info.value.code == "overloaded"


def test_upload_is_resent_whole_after_503(
    gw: FakeGateway, client: Client, video_file: Path
) -> None:
    gw.routes[("POST", "/v1/videos")] = [
        httpx.Response(
            503, json=_err(503, "busy", "service_unavailable"), headers={"Retry-After": "0"}
        ),
        httpx.Response(201, json=VIDEO),
    ]
    client.upload_video(video_file)
    assert len(gw.bodies) == 2 and gw.bodies[0] == gw.bodies[1]
    assert len(gw.bodies[1]) > video_file.stat().st_size


ERROR_CASES = [
    # (route, status, code, expected exception) -- no retries for these
    (("GET", f"/v1/videos/{VID}"), 404, "video_not_found", NotFoundError),
    (("GET", f"/v1/videos/{VID}"), 401, "invalid_api_key", AuthenticationError),
]


@pytest.mark.parametrize(("route", "status", "code", "exc"), ERROR_CASES)
def test_errors_are_typed_and_not_retried(
    gw: FakeGateway,
    client: Client,
    route: tuple[str, str],
    status: int,
    code: str,
    exc: type[Exception],
) -> None:
    gw.routes[route] = [
        httpx.Response(status, json=_err(status, code), headers={"X-Request-ID": "r9"})
    ]
    with pytest.raises(exc) as info:
        client.get_video(VID)
    assert info.value.code == code and info.value.request_id == "r9"  # type: ignore[attr-defined]
    assert len(gw.seen) == 1


def test_connect_error_is_retried_then_surfaced() -> None:
    calls: list[int] = []

    def refuse(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ConnectError("refused", request=request)

    client = Client("http://gw", max_retries=1, transport=httpx.MockTransport(refuse))
    client.retry_policy = type(client.retry_policy)(max_retries=1, base_delay=0.01)
    with pytest.raises(APIConnectionError):
        client.get_job("j")
    assert len(calls) == 2


def test_read_timeout_is_not_retried() -> None:
    calls: list[int] = []

    def slow(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        raise httpx.ReadTimeout("slow", request=request)

    with pytest.raises(APITimeoutError):
        Client("http://gw", transport=httpx.MockTransport(slow)).get_job("j")
    assert len(calls) == 1


def test_ready_503_is_a_value_not_an_error(gw: FakeGateway, client: Client) -> None:
    gw.routes[("GET", "/ready")] = [httpx.Response(503, json={"status": "not ready"})]
    gw.routes[("GET", "/health")] = [httpx.Response(200, json={"status": "ok"})]
    ready, health = client.ready(), client.health()
    assert (ready.ok, ready.status_code, ready.detail) == (False, 503, {"status": "not ready"})
    assert health.ok and len(gw.seen) == 2


def test_delete_and_cancel(gw: FakeGateway, client: Client) -> None:
    gw.routes[("DELETE", f"/v1/videos/{VID}")] = [httpx.Response(204)]
    gw.routes[("POST", "/v1/jobs/j/cancel")] = [
        httpx.Response(200, json={"id": "j", "status": "cancelled"})
    ]
    client.delete_video(VID)
    assert client.cancel_job("j").status == "cancelled"
    assert gw.paths() == [f"DELETE /v1/videos/{VID}", "POST /v1/jobs/j/cancel"]


async def test_async_client_reason_upload_and_retry(gw: FakeGateway, video_file: Path) -> None:
    busy = httpx.Response(
        429, json=_err(429, "busy", "rate_limit_error"), headers={"Retry-After": "0.1"}
    )
    gw.routes[("POST", "/v1/videos")] = [httpx.Response(201, json=VIDEO)]
    gw.routes[("POST", "/v1/reason")] = [busy, httpx.Response(200, json=RESULT)]
    seen: list[int] = []
    async with AsyncClient("http://gw", transport=httpx.MockTransport(gw)) as client:
        res = await client.reason(video_file, "q", upload_progress=lambda s, _t: seen.append(s))
    assert res.evidence[0].object == "square"
    assert gw.paths() == ["POST /v1/videos", "POST /v1/reason", "POST /v1/reason"]
    assert seen[-1] == video_file.stat().st_size


async def test_async_client_errors_and_jobs(gw: FakeGateway) -> None:
    gw.routes[("GET", "/v1/jobs/j")] = [
        httpx.Response(200, json={"id": "j", "status": "cancelled"})
    ]
    gw.routes[("GET", "/v1/models")] = [
        httpx.Response(
            429, json=_err(429, "busy", "rate_limit_error"), headers={"Retry-After": "0"}
        )
    ]
    async with AsyncClient("http://gw", max_retries=1, transport=httpx.MockTransport(gw)) as c:
        with pytest.raises(JobCancelledError):
            await c.wait_for_job("j", poll=0.01)
        with pytest.raises(RateLimitError):
            await c.models()
    assert gw.paths().count("GET /v1/models") == 2
