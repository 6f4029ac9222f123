"""Wire model of a job (`/v1/jobs/{id}`)."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field


class ErrorBody(BaseModel):
    message: str
    type: str
    param: str | None = None
    code: str


class JobProgress(BaseModel):
    """How far a running search got (other jobs report none)."""

    stage: Literal["scan", "zoom", "done"] = Field(description="scan chunks, zoom, done")
    chunks_scanned: int
    chunks_total: int


class Job(BaseModel):
    id: str = Field(examples=["job_0f8e4c2a9b7d4e1f8a6b3c5d7e9f1a2b"])
    object: Literal["job"] = "job"
    status: Literal["queued", "running", "done", "failed", "cancelled"]
    created_at: float = Field(description="unix seconds")
    updated_at: float
    result: dict[str, Any] | None = Field(None, description="a ReasonResponse when done")
    error: ErrorBody | None = None
    progress: JobProgress | None = Field(None, description="while running: a search's "
                                         "progress (GET .../events streams it)")
