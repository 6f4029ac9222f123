"""Wire models of `POST /v1/reason` (docs/API.md, section Reason).

Request models refuse unknown fields (a typo must not silently fall back to a
default) and are frozen: a validated request is a value, which lets the reason service
share one parsed instance between requests with identical bodies. Response models
mirror `service.inference.types.Verdict` in JSON form; boxes are `[x1, y1, x2, y2]`
lists.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

VIDEO_ID_PATTERN = r"^[0-9a-f]{64}$"


class SamplingIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    temperature: float = Field(1.0, ge=0.0, le=2.0)
    top_p: float = Field(1.0, gt=0.0, le=1.0)
    top_k: int = Field(-1, ge=-1, le=1000)
    max_tokens: int | None = Field(None, ge=1, le=32768, description="default from settings")
    repetition_penalty: float = Field(1.0, gt=0.0, le=2.0)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)


class FramesIn(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    num_frames: int | None = Field(None, ge=1, le=256, description="default from settings; "
                                   "at most the backend's image limit (O3_MAX_IMAGES)")
    fps: float | None = Field(None, gt=0.0, le=30.0, description="fixed rate instead of count")
    min_pixels: int | None = Field(None, ge=3136, le=1_000_000,
                                   description="at least 3,136 (Qwen2.5-VL's floor)")
    max_pixels: int | None = Field(None, ge=3136, le=1_000_000)


class ReasonFields(BaseModel):
    """Everything of a reason request except where the video comes from."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    question: str = Field(..., min_length=1, max_length=8000,
                          examples=["What is the man holding?"])
    options: list[str] | None = Field(None, max_length=26,
                                      examples=[["A. a cup", "B. a phone"]])
    task: Literal["free-form", "mcq", "temporal"] | None = Field(
        None, description="default: detected (mcq when options are given or in the question)")
    n: int | None = Field(None, ge=1, le=64, description="sampled traces; default from settings")
    voting: Literal["single", "majority", "confidence"] = "confidence"
    weight_mode: Literal["code", "paper"] = "code"
    abstain_below: float = Field(0.0, ge=0.0, le=1.0)
    sampling: SamplingIn = Field(default_factory=SamplingIn)
    frames: FramesIn = Field(default_factory=FramesIn)
    return_traces: bool = False
    async_: bool = Field(False, alias="async", description="answer 202 with a job id")


class ReasonRequest(ReasonFields):
    """JSON body: exactly one of `video_id` and `video_url`."""

    video_id: str | None = Field(None, pattern=VIDEO_ID_PATTERN)
    video_url: str | None = Field(None, max_length=2048)

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True,
        json_schema_extra={"examples": [{
            "video_id": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "question": "What is the man holding?", "options": ["A. a cup", "B. a phone"],
            "n": 8, "voting": "confidence"}]},
    )

    @model_validator(mode="after")
    def _one_source(self) -> ReasonRequest:
        if (self.video_id is None) == (self.video_url is None):
            raise ValueError("give exactly one of video_id and video_url "
                             "(or upload a file as multipart)")
        return self


class VoteOut(BaseModel):
    answer: str
    weight: float
    votes: int
    traces: list[int]
    span: list[float] | None = None


class EvidenceOut(BaseModel):
    object: str
    time: float
    support: int
    traces: list[int]
    box: list[float] = Field(description="original video pixels (coded frame)")
    box_normalized: list[float]
    box_display_normalized: list[float]
    box_fed: list[float] = Field(description="pixels of the frame as fed to the model")


class FramesOut(BaseModel):
    times: list[float]
    fed_size: list[int]
    original_size: list[int]
    rotation: int
    duration: float


class TokenCounts(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class UsageOut(BaseModel):
    """Everything the request cost (sampling + verification), and the two apart."""

    prompt_tokens: int
    completion_tokens: int
    total_tokens: int
    sampling: TokenCounts | None = Field(
        None, description="the one sampling call that produced the N traces")
    verify: TokenCounts | None = Field(
        None, description="the verifier's scoring calls, summed (zero unless "
        "voting=confidence)")


class TraceEvidenceOut(BaseModel):
    object: str
    time: float
    boxes_fed: list[list[float]]


class TraceOut(BaseModel):
    index: int
    text: str
    answer: str | None
    weight: float
    verifier_score: float | None
    think: str | None
    defects: list[str]
    finish_reason: str
    evidence: list[TraceEvidenceOut]


class ReasonResponse(BaseModel):
    id: str
    object: Literal["reason.result"] = "reason.result"
    request_id: str
    model: str
    model_revision: str
    random_tiny_model: bool
    video_id: str
    task: str
    answer: str | None
    confidence: float
    abstained: bool
    span: list[float] | None
    votes: list[VoteOut]
    evidence: list[EvidenceOut]
    frames: FramesOut
    timings: dict[str, float]
    usage: UsageOut
    cached: bool
    defects: list[str]
    greedy_repeated: bool = Field(
        False, description="temperature 0 with n > 1: ONE greedy trace was sampled and "
        "verified, and is reported n times (every greedy sample is the same trace; vLLM "
        "refuses n > 1 when greedy); the vote counts n copies of that trace")
    traces: list[TraceOut] | None = None


class JobAccepted(BaseModel):
    job_id: str
    status: Literal["queued"] = "queued"
    object: Literal["job"] = "job"
