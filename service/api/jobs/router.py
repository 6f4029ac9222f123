"""HTTP routes of `/v1/jobs`: read, cancel, and follow (server-sent events)."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request
from fastapi.responses import StreamingResponse

from service.api.jobs.progress import job_events
from service.api.jobs.protocol import Job
from service.api.jobs.service import JobsService
from service.api.openapi import ERRORS
from service.security.auth import ApiKeyRoute, principal

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], route_class=ApiKeyRoute)
JobId = Path(description="the id a 202 response returned", max_length=64)


def _svc(request: Request) -> JobsService:
    svc: JobsService = request.app.state.services.jobs_api
    return svc


@router.get("/{job_id}", response_model=Job, responses=ERRORS,
            summary="A job's status, with its result or error when finished")
async def get_job(request: Request, job_id: str = JobId) -> Job:
    return await _svc(request).get(job_id, principal(request))


@router.post("/{job_id}/cancel", response_model=Job, responses=ERRORS, summary="Cancel a job")
async def cancel_job(request: Request, job_id: str = JobId) -> Job:
    return await _svc(request).cancel(job_id, principal(request))


@router.delete("/{job_id}", response_model=Job, responses=ERRORS,
               summary="Cancel a job (same as POST .../cancel)")
async def delete_job(request: Request, job_id: str = JobId) -> Job:
    return await _svc(request).cancel(job_id, principal(request))



@router.get("/{job_id}/events", responses=ERRORS, response_class=StreamingResponse,
            summary="Follow a job: server-sent events until it ends",
            description="`event: status` (data: the job, as GET returns it) whenever its "
            "status or progress changes, then `event: done` with the finished job. "
            "Polling GET /v1/jobs/{id} works as well.")
async def job_events_route(request: Request, job_id: str = JobId) -> StreamingResponse:
    svc = _svc(request)
    who = principal(request)
    await svc.get(job_id, who)  # 404 (any tenant but the owner) before the stream starts

    async def read() -> dict[str, object]:
        return (await svc.get(job_id, who)).model_dump(mode="json")

    return StreamingResponse(job_events(read), media_type="text/event-stream",
                             headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"})
