"""The jobs service: read and cancel jobs, and the worker handler that runs one.

The handler turns a queued reason request back into `ReasonFields` and answers it
with the same `ReasonService.answer` a synchronous request uses (cache included), so
a job's result is exactly the response the request would have got. A job running
longer than `O3_JOB_TIMEOUT_S` is cancelled and fails with a 504 `job_timeout` error.

Tenancy: a job's request carries the tenant that submitted it; `get`/`cancel` answer
404 `job_not_found` to any other tenant (admins see all), exactly as for an unknown
id. A job waits for its tenant's inference quota (`TenantQuotas`), never refused.
"""

from __future__ import annotations

import asyncio

from service.api.errors import error_body, to_api_error
from service.api.jobs.progress import ProgressWriter
from service.api.jobs.protocol import ErrorBody, Job, JobProgress
from service.api.reason.protocol import ReasonFields, ReasonResponse
from service.api.reason.service import ReasonService
from service.errors import ApiError
from service.observability.context import request_id_var
from service.observability.metrics import Metrics
from service.security.auth import ANONYMOUS, Principal
from service.security.quotas import TenantQuotas
from service.state.jobs import JobQueue, JobRecord, Outcome


def job_out(rec: JobRecord) -> Job:
    return Job(id=rec.id, status=rec.status,
               created_at=rec.created_at, updated_at=rec.updated_at, result=rec.result,
               error=ErrorBody.model_validate(rec.error) if rec.error else None,
               progress=JobProgress.model_validate(rec.progress) if rec.progress else None)


def _not_found(job_id: str) -> ApiError:
    return ApiError(404, "job_not_found", f"no job {job_id!r}", param="job_id")


def visible(rec: JobRecord | None, who: Principal) -> bool:
    """True when `who` may see the job (its tenant's, or `who` is an admin)."""
    if rec is None:
        return False
    return who.admin or rec.request.get("tenant", ANONYMOUS.tenant) == who.tenant


class JobsService:
    def __init__(self, queue: JobQueue, reason: ReasonService, metrics: Metrics,
                 quotas: TenantQuotas | None = None) -> None:
        self.queue = queue
        self.reason = reason
        self.metrics = metrics
        self.quotas = quotas or TenantQuotas(0, 0)

    async def get(self, job_id: str, who: Principal = ANONYMOUS) -> Job:
        rec = await self.queue.get(job_id)
        if rec is None or not visible(rec, who):
            raise _not_found(job_id)
        return job_out(rec)

    async def cancel(self, job_id: str, who: Principal = ANONYMOUS) -> Job:
        if not visible(await self.queue.get(job_id), who):
            raise _not_found(job_id)  # checked before anything is written
        rec = await self.queue.cancel(job_id)
        if rec is None:
            raise _not_found(job_id)
        return job_out(rec)

    async def handle(self, rec: JobRecord) -> Outcome:
        """Worker handler: never raises for request errors; they become a failed job."""
        rid = str(rec.request.get("request_id", rec.id))
        token = request_id_var.set(rid)
        try:
            fields = ReasonFields.model_validate(rec.request["fields"])
            who = Principal(str(rec.request.get("tenant", ANONYMOUS.tenant)),
                            admin=bool(rec.request.get("admin", False)))
            async with ProgressWriter(self.queue, rec.id) as progress:
                resp = await self._answer_by_deadline(fields, str(rec.request["video_id"]),
                                                      rid, who, progress)
            self.metrics.jobs.labels("done").inc()
            return "done", resp.model_dump(mode="json")
        except Exception as exc:
            err = to_api_error(exc)
            self.metrics.jobs.labels("failed").inc()
            body: dict[str, object] = error_body(err.status, err.code, err.message, err.param)
            return "failed", body["error"]  # type: ignore[return-value]
        finally:
            request_id_var.reset(token)

    async def _answer_by_deadline(self, fields: ReasonFields, video_id: str, rid: str,
                                  who: Principal = ANONYMOUS,
                                  progress: ProgressWriter | None = None) -> ReasonResponse:
        """The job's answer, or a 504 `job_timeout` once O3_JOB_TIMEOUT_S has passed
        (the work is cancelled, so its backend request is aborted too). Waiting for the
        tenant's inference quota counts against the deadline."""
        limit = self.reason.settings.job_timeout_s
        deadline = asyncio.timeout(limit)
        try:
            async with deadline, self.quotas.inference(who.tenant, wait=True,
                                                       exempt=who.admin):
                # a job waits for an inference slot; it is never refused with a 429
                return await self.reason.answer(fields, video_id, rid, wait=True,
                                                progress=progress)
        except TimeoutError as exc:
            if not deadline.expired():
                raise  # some other timeout inside the work: mapped as usual
            raise ApiError(504, "job_timeout", f"the job did not finish within {limit:g} s "
                           "(O3_JOB_TIMEOUT_S)") from exc
