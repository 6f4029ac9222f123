"""Typed results: pydantic models mirroring the gateway's wire shapes (docs/API.md).

These are the client's view of the wire, written independently of the server's
`service/api/*/protocol.py` so the SDK installs with httpx + pydantic only.

Invariants:
- Every model ignores unknown fields (`extra="ignore"`), so a newer server never
  breaks an older client; every field a server may omit has a default.
- Boxes are `[x1, y1, x2, y2]` lists of floats; times are seconds from the start.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field

Box = list[float]
JobStatus = Literal["queued", "running", "done", "failed", "cancelled"]


class _Wire(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class Video(_Wire):
    """A stored video (`POST /v1/videos`, `GET /v1/videos/{id}`)."""

    id: str
    object: str = "video"
    bytes: int = 0
    duration: float = 0.0
    fps: float = 0.0
    variable_frame_rate: bool = False
    width: int = 0
    height: int = 0
    rotation: int = 0
    codec: str | None = None
    frame_count: int = 0
    has_audio: bool = False


class VoteRow(_Wire):
    """One candidate answer of the vote table."""

    answer: str
    weight: float
    votes: int
    traces: list[int] = Field(default_factory=list)
    span: list[float] | None = None


class Evidence(_Wire):
    """One merged evidence item: what, when, and where in three coordinate systems."""

    object: str
    time: float
    support: int = 1
    traces: list[int] = Field(default_factory=list)
    box: Box
    box_normalized: Box
    box_display_normalized: Box
    box_fed: Box | None = None


class FramesInfo(_Wire):
    """Which frames were fed to the model and the sizes involved."""

    times: list[float] = Field(default_factory=list)
    fed_size: list[int] = Field(default_factory=list)
    original_size: list[int] = Field(default_factory=list)
    rotation: int = 0
    duration: float = 0.0


class Usage(_Wire):
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0


class TraceEvidence(_Wire):
    object: str
    time: float
    boxes_fed: list[Box] = Field(default_factory=list)


class Trace(_Wire):
    """One sampled reasoning trace (present only with `return_traces=True`)."""

    index: int
    text: str
    answer: str | None = None
    weight: float = 0.0
    verifier_score: float | None = None
    think: str | None = None
    defects: list[str] = Field(default_factory=list)
    finish_reason: str | None = None
    evidence: list[TraceEvidence] = Field(default_factory=list)


class SearchChunk(_Wire):
    start: float
    end: float
    score: float
    cited: list[float] = Field(default_factory=list)
    failed: bool = False


class SearchWindow(_Wire):
    start: float
    end: float
    score: float


class SearchInfo(_Wire):
    """What a search did (`strategy=search`): chunks scanned and scored, windows zoomed."""

    chunk_s: float = 0.0
    frames_per_chunk: int = 0
    chunks: list[SearchChunk] = Field(default_factory=list)
    windows: list[SearchWindow] = Field(default_factory=list)
    scan_calls: int = 0
    scan_frames: int = 0
    zoom_frames: int = 0
    frames_decoded: int = 0
    frames_reused: int = 0
    keyframes_only: bool = True


class JobProgressInfo(_Wire):
    """A running search's progress."""

    stage: str = ""
    chunks_scanned: int = 0
    chunks_total: int = 0


class ReasonResult(_Wire):
    """The verdict of `POST /v1/reason` (or a finished job's `result`)."""

    id: str
    object: str = "reason.result"
    request_id: str | None = None
    model: str = ""
    model_revision: str | None = None
    random_tiny_model: bool = False
    video_id: str | None = None
    task: str = "free-form"
    protocol: str = "rl"
    answer: str | None = None
    confidence: float = 0.0
    abstained: bool = False
    span: list[float] | None = None
    votes: list[VoteRow] = Field(default_factory=list)
    evidence: list[Evidence] = Field(default_factory=list)
    frames: FramesInfo = Field(default_factory=FramesInfo)
    timings: dict[str, float] = Field(default_factory=dict)
    usage: Usage = Field(default_factory=Usage)
    cached: bool = False
    defects: list[str] = Field(default_factory=list)
    greedy_repeated: bool = False  # temperature 0: one trace sampled, reported n times
    traces: list[Trace] | None = None
    search: SearchInfo | None = None


class ErrorBody(_Wire):
    message: str = ""
    type: str | None = None
    param: str | None = None
    code: str | None = None


class Job(_Wire):
    """An asynchronous reason job (`202` from `/v1/reason`, `GET /v1/jobs/{id}`).

    The 202 answer names the id `job_id`; the job object names it `id`: both are read.
    """

    id: str = Field(validation_alias=AliasChoices("id", "job_id"))
    object: str = "job"
    status: JobStatus
    created_at: float | str | None = None
    updated_at: float | str | None = None
    result: ReasonResult | None = None
    error: ErrorBody | None = None
    progress: JobProgressInfo | None = None

    @property
    def finished(self) -> bool:
        return self.status in ("done", "failed", "cancelled")


class Model(_Wire):
    id: str
    object: str = "model"
    created: int | None = None
    owned_by: str | None = None
    random_tiny_model: bool = False


class ModelList(_Wire):
    object: str = "list"
    data: list[Model] = Field(default_factory=list)


class Health(_Wire):
    """`/health` or `/ready`: `ok` is the HTTP outcome, `detail` the body as sent."""

    ok: bool
    status_code: int
    detail: dict[str, Any] = Field(default_factory=dict)
