"""The jobs service: read and cancel jobs, and the worker handler that runs one.

The handler turns a queued reason request back into `ReasonFields` and answers it
with the same `ReasonService.answer` a synchronous request uses (cache included), so
a job's result is exactly the response the request would have got.
"""

from __future__ import annotations

from service.api.errors import ApiError, error_body, to_api_error
from service.api.jobs.protocol import ErrorBody, Job
from service.api.reason.protocol import ReasonFields
from service.api.reason.service import ReasonService
from service.observability.context import request_id_var
from service.observability.metrics import Metrics
from service.state.jobs import JobQueue, JobRecord, Outcome


def job_out(rec: JobRecord) -> Job:
    return Job(id=rec.id, status=rec.status,
               created_at=rec.created_at, updated_at=rec.updated_at, result=rec.result,
               error=ErrorBody.model_validate(rec.error) if rec.error else None)


class JobsService:
    def __init__(self, queue: JobQueue, reason: ReasonService, metrics: Metrics) -> None:
        self.queue = queue
        self.reason = reason
        self.metrics = metrics

    async def get(self, job_id: str) -> Job:
        rec = await self.queue.get(job_id)
        if rec is None:
            raise ApiError(404, "job_not_found", f"no job {job_id!r}", param="job_id")
        return job_out(rec)

    async def cancel(self, job_id: str) -> Job:
        rec = await self.queue.cancel(job_id)
        if rec is None:
            raise ApiError(404, "job_not_found", f"no job {job_id!r}", param="job_id")
        return job_out(rec)

    async def handle(self, rec: JobRecord) -> Outcome:
        """Worker handler: never raises for request errors; they become a failed job."""
        rid = str(rec.request.get("request_id", rec.id))
        token = request_id_var.set(rid)
        try:
            fields = ReasonFields.model_validate(rec.request["fields"])
            resp = await self.reason.answer(fields, str(rec.request["video_id"]), rid)
            self.metrics.jobs.labels("done").inc()
            return "done", resp.model_dump(mode="json")
        except Exception as exc:
            err = to_api_error(exc)
            self.metrics.jobs.labels("failed").inc()
            body: dict[str, object] = error_body(err.status, err.code, err.message, err.param)
            return "failed", body["error"]  # type: ignore[return-value]
        finally:
            request_id_var.reset(token)
