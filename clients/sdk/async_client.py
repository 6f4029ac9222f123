"""The asynchronous client: `AsyncClient(base_url, api_key, ...)` over httpx.AsyncClient.

Every method maps to one route of docs/API.md, except `reason`, which may upload the
video first (content-addressed, so re-uploading is harmless) and waits for the job
when the server answers 202. Failures raise the tree in `clients.sdk.errors`.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from types import TracebackType
from typing import Any

import httpx

from clients.sdk._base import (
    BaseClient,
    Call,
    JobProgress,
    ReasonOptions,
    SSEJobs,
    connection_error,
    job_from_reason,
    job_outcome,
    surface,
)
from clients.sdk._core import classify_video, parse_model, raise_for_status
from clients.sdk.errors import JobWaitTimeout, O3Error
from clients.sdk.models import Health, Job, ModelList, ReasonResult, Video
from clients.sdk.upload import ProgressCallback, VideoSource, make_upload


class AsyncClient(BaseClient):
    """Talks to an Open-o3 serving gateway. Use as a context manager or call `close()`."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float | httpx.Timeout = 120.0,
        max_retries: int = 3,
        max_retry_delay: float = 30.0,
        transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        super().__init__(
            base_url,
            api_key,
            timeout=timeout,
            max_retries=max_retries,
            max_retry_delay=max_retry_delay,
        )
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            timeout=timeout,
            transport=transport,
            headers=self._headers(),
        )

    # ---- videos -------------------------------------------------------------------

    async def upload_video(
        self, video: VideoSource, *, progress: ProgressCallback | None = None
    ) -> Video:
        """Stream a video to `POST /v1/videos` (one chunk in memory at a time)."""
        call = Call("POST", "/v1/videos", upload=make_upload(video), progress=progress)
        return parse_model(Video, await self._execute(call))

    async def get_video(self, video_id: str) -> Video:
        return parse_model(Video, await self._execute(Call("GET", f"/v1/videos/{video_id}")))

    async def delete_video(self, video_id: str) -> None:
        await self._execute(Call("DELETE", f"/v1/videos/{video_id}"))

    # ---- reason -------------------------------------------------------------------

    async def reason(
        self,
        video: VideoSource,
        question: str,
        *,
        options: list[str] | None = None,
        task: str | None = None,
        n: int | None = None,
        voting: str | None = None,
        weight_mode: str | None = None,
        abstain_below: float | None = None,
        sampling: dict[str, Any] | None = None,
        frames: dict[str, Any] | None = None,
        return_traces: bool = False,
        async_: bool = False,
        prompt: dict[str, Any] | None = None,
        strategy: str | None = None,
        search: dict[str, Any] | None = None,
        upload_progress: ProgressCallback | None = None,
        job_progress: JobProgress | None = None,
        poll: float = 0.5,
        wait_timeout: float | None = None,
    ) -> ReasonResult:
        """Answer `question` about `video` (path, bytes, file, video id or URL).

        With `async_=True`, or when the server chooses to queue the request (202), the
        job is polled every `poll` seconds until it ends. `prompt`: the prompt protocol
        and overrides (`{"protocol": "vstar-when", "instruction": ...}`).
        `strategy="search"` (or `auto` on a long video) searches the video: always a job;
        `job_progress` then sees `job.progress` (stage, chunks scanned / total), the
        result carries `search`.
        """
        opts = ReasonOptions(
            options=options, task=task, n=n, voting=voting, weight_mode=weight_mode,
            abstain_below=abstain_below, sampling=sampling, frames=frames,
            return_traces=return_traces, prompt=prompt, strategy=strategy, search=search,
        )
        out = await self._submit(video, question, opts, async_, upload_progress)
        if isinstance(out, ReasonResult):
            return out
        return await self.wait_for_job(
            out.id, poll=poll, timeout=wait_timeout, progress=job_progress
        )

    async def submit(
        self,
        video: VideoSource,
        question: str,
        *,
        upload_progress: ProgressCallback | None = None,
        **options: Any,
    ) -> Job:
        """Queue a reason job (`async: true`) and return it without waiting."""
        out = await self._submit(video, question, ReasonOptions(**options), True, upload_progress)
        if isinstance(out, ReasonResult):
            raise O3Error("server answered an async request synchronously")
        return out

    async def _submit(
        self,
        video: VideoSource,
        question: str,
        opts: ReasonOptions,
        async_: bool,
        upload_progress: ProgressCallback | None,
    ) -> Job | ReasonResult:
        kind, value = classify_video(video)
        if kind == "upload":
            value = (await self.upload_video(value, progress=upload_progress)).id
        body = opts.body(
            question, value if kind != "url" else None, value if kind == "url" else None, async_
        )
        response = await self._execute(Call("POST", "/v1/reason", json=body))
        return job_from_reason(response.json())

    # ---- jobs ---------------------------------------------------------------------

    async def get_job(self, job_id: str) -> Job:
        return parse_model(Job, await self._execute(Call("GET", f"/v1/jobs/{job_id}")))

    async def cancel_job(self, job_id: str) -> Job:
        return parse_model(Job, await self._execute(Call("POST", f"/v1/jobs/{job_id}/cancel")))

    async def job_events(self, job_id: str) -> AsyncIterator[Job]:
        """Follow a job over server-sent events: the job at each change of its status or
        progress, the last one finished. (Polling with `get_job` works as well.)"""
        parser = SSEJobs()
        try:
            async with self._http.stream("GET", f"/v1/jobs/{job_id}/events") as response:
                if response.is_error:
                    await response.aread()
                    raise_for_status(response)
                async for line in response.aiter_lines():
                    job = parser.feed(line)
                    if job is not None:
                        yield job
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc

    async def wait_for_job(
        self,
        job_id: str,
        *,
        poll: float = 0.5,
        timeout: float | None = None,
        progress: JobProgress | None = None,
    ) -> ReasonResult:
        """Poll until the job ends; return its result or raise its error."""
        start = time.monotonic()
        while True:
            job = await self.get_job(job_id)
            waited = time.monotonic() - start
            if progress is not None:
                progress(job, waited)
            if job.finished:
                return job_outcome(job)
            if timeout is not None and waited + poll > timeout:
                raise JobWaitTimeout(job_id, job.status, waited)
            await asyncio.sleep(poll)

    # ---- models and health --------------------------------------------------------

    async def models(self) -> ModelList:
        return parse_model(ModelList, await self._execute(Call("GET", "/v1/models")))

    async def health(self) -> Health:
        return await self._probe("/health")

    async def ready(self) -> Health:
        """`/ready`; a 503 (not ready) is returned as `ok=False`, not raised."""
        return await self._probe("/ready")

    async def _probe(self, path: str) -> Health:
        try:
            response = await self._http.get(path)
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc
        detail = response.json() if "json" in response.headers.get("content-type", "") else {}
        return Health(
            ok=response.is_success,
            status_code=response.status_code,
            detail=detail if isinstance(detail, dict) else {"body": detail},
        )

    # ---- plumbing -----------------------------------------------------------------

    async def _execute(self, call: Call) -> httpx.Response:
        attempt = 0
        while True:
            try:
                return await self._send_once(call)
            except (O3Error, httpx.ConnectError) as exc:
                delay = self.retry_policy.delay(attempt, exc) if call.retry else None
                if delay is None:
                    raise surface(exc) from None
            await asyncio.sleep(delay)
            attempt += 1

    async def _send_once(self, call: Call) -> httpx.Response:
        headers: dict[str, str] = {}
        content = None
        if call.upload is not None:
            headers = call.upload.headers
            content = call.upload.iter_async(call.progress)
        request = self._http.build_request(
            call.method,
            call.path,
            json=call.json,
            content=content,
            headers=headers,
            params=call.params or None,
        )
        try:
            response = await self._http.send(request)
        except httpx.ConnectError:
            raise
        except httpx.TransportError as exc:
            raise connection_error(exc) from exc
        raise_for_status(response)
        return response

    async def close(self) -> None:
        await self._http.aclose()

    async def __aenter__(self) -> AsyncClient:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()
