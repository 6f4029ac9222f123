"""The SDK against the real gateway process: every method, errors mapped, retries, uploads.

Most tests use `scripted_gateway` (known answer: the square's true box); one runs the
real tiny model through `tiny_gateway`.
"""

from __future__ import annotations

import threading
import time
from pathlib import Path

import httpx
import psutil
import pytest

from clients.sdk import (
    AsyncClient,
    AuthenticationError,
    BadRequestError,
    Client,
    JobCancelledError,
    NotFoundError,
    RateLimitError,
    ReasonResult,
    UnsupportedMediaError,
)
from service.grounding.geometry import box_iou
from service.video.synth import MovingSquareTruth
from tests.e2e.clients.conftest import SLOW_S, Gateway
from tests.e2e.clients.support import ANSWER, EVIDENCE_TIMES

Square = tuple[Path, MovingSquareTruth]


def _client(gw: Gateway, **kw: object) -> Client:
    return Client(gw.url, gw.api_key, **kw)  # type: ignore[arg-type]


def _check_evidence(result: ReasonResult, truth: MovingSquareTruth) -> None:
    assert [round(e.time, 1) for e in result.evidence] == list(EVIDENCE_TIMES)
    size = (truth.scene.width, truth.scene.height)
    for e in result.evidence:
        assert box_iou(tuple(e.box), truth.box_at(e.time)) > 0.85, (e.time, e.box)  # type: ignore[arg-type]
        norm = [v / s for v, s in zip(e.box, size * 2, strict=True)]
        assert e.box_normalized == pytest.approx(norm, abs=1e-3)


def test_health_ready_models(scripted_gateway: Gateway) -> None:
    with _client(scripted_gateway) as c:
        assert c.health().ok
        ready = c.ready()
        assert ready.ok and ready.status_code == 200
        assert [m.id for m in c.models().data] != []


def test_video_lifecycle(scripted_gateway: Gateway, square: Square) -> None:
    path, truth = square
    seen: list[tuple[int, int]] = []
    with _client(scripted_gateway) as c:
        video = c.upload_video(path, progress=lambda s, t: seen.append((s, t)))
        assert (video.width, video.height) == (truth.scene.width, truth.scene.height)
        assert video.duration == pytest.approx(3.0, abs=0.15)
        assert seen[-1] == (path.stat().st_size, path.stat().st_size)
        assert c.upload_video(path.read_bytes()).id == video.id  # content-addressed
        assert c.get_video(video.id).frame_count == video.frame_count
        c.delete_video(video.id)
        with pytest.raises(NotFoundError) as info:
            c.get_video(video.id)
        assert info.value.code == "video_not_found" and info.value.request_id


def test_reason_sync_cites_true_boxes(scripted_gateway: Gateway, square: Square) -> None:
    path, truth = square
    with _client(scripted_gateway) as c:
        result = c.reason(path, "Where is the square?", n=3, return_traces=True)
    assert result.answer == ANSWER and result.confidence > 0.5
    assert result.votes[0].votes == 3 and len(result.traces or []) == 3
    _check_evidence(result, truth)


def test_reason_async_job_and_progress(scripted_gateway: Gateway, square: Square) -> None:
    path, truth = square
    statuses: list[str] = []
    with _client(scripted_gateway) as c:
        result = c.reason(path, "Where is the square?", async_=True, poll=0.1,
                          job_progress=lambda job, _t: statuses.append(job.status))
        job = c.submit(path, "Where is the square?")
        assert c.get_job(job.id).id == job.id
        again = c.wait_for_job(job.id, poll=0.1, timeout=60)
    assert statuses[-1] == "done" and result.answer == ANSWER
    assert again.answer == ANSWER
    _check_evidence(result, truth)


def test_cancel_job(scripted_gateway: Gateway, square: Square) -> None:
    path, _ = square
    with _client(scripted_gateway) as c:
        job = c.submit(path, "SLOW: where is the square?")
        cancelled = c.cancel_job(job.id)
        assert cancelled.status == "cancelled"
        with pytest.raises(JobCancelledError):
            c.wait_for_job(job.id, poll=0.1, timeout=30)
        time.sleep(SLOW_S)  # let the stand-in finish before the next test takes the slot


ERRORS = [
    # (what the call does, expected exception, expected code) -- mapped from the real server
    ("unknown video", NotFoundError, "video_not_found"),
    ("unknown job", NotFoundError, None),
    ("not a video", UnsupportedMediaError, "not_a_video"),
    ("n too large", BadRequestError, None),
]


@pytest.mark.parametrize(("case", "exc", "code"), ERRORS)
def test_errors_are_mapped(
    scripted_gateway: Gateway, square: Square, case: str, exc: type[Exception], code: str | None
) -> None:
    path, _ = square
    with _client(scripted_gateway, max_retries=0) as c, pytest.raises(exc) as info:
        if case == "unknown video":
            c.get_video("0" * 64)
        elif case == "unknown job":
            c.get_job("job_doesnotexist")
        elif case == "not a video":
            c.upload_video(b"this is plain text, not a video" * 100)
        else:
            c.reason(path, "q", n=1000)
    if code:
        assert info.value.code == code  # type: ignore[attr-defined]


def test_wrong_api_key(scripted_gateway: Gateway) -> None:
    with (
        Client(scripted_gateway.url, "wrong-key", max_retries=0) as c,
        pytest.raises(AuthenticationError) as info,
    ):
        c.models()
    assert info.value.status == 401


class CountingTransport(httpx.HTTPTransport):
    """A real HTTP transport that records every response status it returned."""

    def __init__(self) -> None:
        super().__init__()
        self.statuses: list[int] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        response = super().handle_request(request)
        self.statuses.append(response.status_code)
        return response


def test_retry_when_gateway_is_at_its_limit(scripted_gateway: Gateway, square: Square) -> None:
    path, _ = square
    with _client(scripted_gateway) as c:
        video_id = c.upload_video(path).id
    slow = threading.Thread(target=lambda: _client(scripted_gateway).reason(video_id, "SLOW?"))
    slow.start()
    time.sleep(0.8)  # the slow request now holds the only slot
    with (
        _client(scripted_gateway, max_retries=0) as impatient,
        pytest.raises(RateLimitError) as info,
    ):
        impatient.reason(video_id, "busy?")
    assert info.value.retry_after is not None and info.value.retry_after >= 1
    transport = CountingTransport()
    start = time.monotonic()
    with Client(scripted_gateway.url, scripted_gateway.api_key, max_retries=6,
                transport=transport) as patient:
        result = patient.reason(video_id, "Where is the square?")
    slow.join()
    assert result.answer == ANSWER
    assert transport.statuses[0] == 429 and transport.statuses[-1] == 200
    assert time.monotonic() - start >= 1.0  # waited per Retry-After between tries


def test_200mb_upload_streams_with_bounded_memory(
    scripted_gateway: Gateway, square: Square, tmp_path: Path
) -> None:
    path, _ = square
    big = tmp_path / "big.mp4"
    pad = 200 * 1024 * 1024
    with big.open("wb") as f:  # a valid MP4 plus a 200 MB top-level `free` box
        f.write(path.read_bytes())
        f.write((pad + 8).to_bytes(4, "big") + b"free")
        chunk = b"\0" * (1 << 20)
        for _ in range(pad // len(chunk)):
            f.write(chunk)
    proc = psutil.Process()
    peak = [proc.memory_info().rss]
    base = peak[0]
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], proc.memory_info().rss)
            time.sleep(0.01)

    sampler = threading.Thread(target=sample)
    sampler.start()
    try:
        with _client(scripted_gateway, timeout=120.0) as c:
            video = c.upload_video(big)
    finally:
        done.set()
        sampler.join()
    growth_mb = (peak[0] - base) / 2**20
    print(f"200 MB upload: client RSS growth {growth_mb:.1f} MB")
    assert video.bytes == big.stat().st_size
    assert growth_mb < 100, f"client RSS grew {growth_mb:.1f} MB while uploading 200 MB"


async def test_async_client_on_the_tiny_model(tiny_gateway: Gateway, square: Square) -> None:
    path, _ = square
    async with AsyncClient(tiny_gateway.url, tiny_gateway.api_key, timeout=300) as c:
        assert (await c.ready()).ok
        models = await c.models()
        result = await c.reason(path, "What moves?", n=2, return_traces=True,
                                frames={"num_frames": 4})
    assert models.data[0].random_tiny_model is True
    assert result.random_tiny_model is True
    assert len(result.traces or []) == 2
    assert result.frames.original_size == [320, 240]
    fed_w, fed_h = result.frames.fed_size
    assert fed_w * fed_h <= 8 * 28 * 28  # the gateway's pixel budget reached the model
    assert result.frames.times == sorted(result.frames.times)
