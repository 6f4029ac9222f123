"""HTTP routes of `/v1/jobs`: read and cancel."""

from __future__ import annotations

from fastapi import APIRouter, Path, Request

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
