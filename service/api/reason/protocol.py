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
ProtocolName = Literal["rl", "released", "sft", "vstar-what", "vstar-when", "vstar-where",
                       "vstar-when-chain2", "vstar-where-chain2", "mcq-video"]
MAX_SYSTEM_CHARS = 8000
MAX_INSTRUCTION_CHARS = 8000
MAX_PREAMBLE_CHARS = 2000
MAX_SUBTITLES_CHARS = 200_000


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
    grid: Literal["exact", "vstar-release"] | None = Field(
        None, description="with fps: the exact 1/fps grid (default) or the release's "
        "V-STAR frame choice (every int(video_fps/fps)-th frame)")


class SearchIn(BaseModel):
    """Knobs of `strategy=search` (docs/SEARCH.md); None = the server's setting."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    chunk_s: float | None = Field(None, ge=2.0, le=600.0, description="seconds per scan chunk")
    frames_per_chunk: int | None = Field(None, ge=1, le=64)
    windows: int | None = Field(None, ge=1, le=8, description="windows zoomed into")
    window_s: float | None = Field(None, ge=1.0, le=300.0)
    zoom_frames: int | None = Field(None, ge=1, le=128)
    context_frames: int | None = Field(None, ge=0, le=32)
    concurrency: int | None = Field(None, ge=1, le=64,
                                    description="at most O3_SEARCH_CONCURRENCY")
    scan_samples: int | None = Field(None, ge=1, le=8)
    keyframes_only: bool | None = None


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
    weight_mode: Literal["code", "paper", "released"] = Field(
        "code", description="verifier weights: code (default), paper, or released (the "
        "release's whole test-time scaling, docs/VOTING.md)")
    abstain_below: float = Field(0.0, ge=0.0, le=1.0)
    sampling: SamplingIn = Field(default_factory=SamplingIn)
    frames: FramesIn = Field(default_factory=FramesIn)
    return_traces: bool = False
    async_: bool = Field(False, alias="async", description="answer 202 with a job id")
    protocol: ProtocolName = Field(
        "rl", description="prompt format (docs/API.md, Prompt protocols); rl = the "
        "checkpoint's RL training format")
    system: str | None = Field(None, min_length=1, max_length=MAX_SYSTEM_CHARS,
                               description="replaces the system prompt")
    instruction: str | None = Field(None, min_length=1, max_length=MAX_INSTRUCTION_CHARS,
                                    description="replaces the text after the frames")
    preamble: str | None = Field(None, min_length=1, max_length=MAX_PREAMBLE_CHARS,
                                 description="text before the frames")
    subtitles: str | None = Field(None, max_length=MAX_SUBTITLES_CHARS,
                                  description="SRT or WebVTT text; cues on screen at the "
                                  "fed frames go into the prompt")
    video_subtitles: bool = Field(False, description="use the video's own subtitle stream")
    strategy: Literal["auto", "uniform", "search"] = Field(
        "auto", description="uniform frames, or a grounded search (scan then zoom; always a "
        "job); auto = search above O3_SEARCH_AUTO_MIN_DURATION_S")
    search: SearchIn = Field(default_factory=SearchIn)


class ReasonRequest(ReasonFields):
    """JSON body: exactly one of `video_id`, `video_url` and `image`."""

    video_id: str | None = Field(None, pattern=VIDEO_ID_PATTERN)
    video_url: str | None = Field(None, max_length=2048)
    image: str | None = Field(None, description="a still image as a data: URL (JPEG, PNG, "
                              "WebP...): answered with the image prompt; `answer_box` is "
                              "in the image's pixels")

    model_config = ConfigDict(
        extra="forbid", populate_by_name=True, frozen=True,
        json_schema_extra={"examples": [{
            "video_id": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
            "question": "What is the man holding?", "options": ["A. a cup", "B. a phone"],
            "n": 8, "voting": "confidence"}]},
    )

    @model_validator(mode="after")
    def _one_source(self) -> ReasonRequest:
        if sum(x is not None for x in (self.video_id, self.video_url, self.image)) != 1:
            raise ValueError("give exactly one of video_id, video_url and image "
                             "(or upload a file as multipart)")
        if self.image is not None and self.async_:
            raise ValueError("async is for videos; an image is answered directly")
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


class AnswerBoxOut(BaseModel):
    """The box an image answer names (`<obj>name</obj><box>[..]</box>`)."""

    object: str
    box: list[float] = Field(description="pixels of the image as sent")
    box_normalized: list[float]
    box_fed: list[float] = Field(description="pixels of the image as fed to the model")


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
    scan: TokenCounts | None = Field(
        None, description="a search's scan (chunk calls and their verification); "
        "included in the totals")


class ChunkOut(BaseModel):
    start: float
    end: float
    score: float = Field(description="relevance in [0, 1] from the chunk's cited evidence")
    cited: list[float]
    failed: bool = False


class WindowOut(BaseModel):
    start: float
    end: float
    score: float


class SearchOut(BaseModel):
    """What a search did (strategy=search): the page's relevance strip, the CLI's table."""

    chunk_s: float
    frames_per_chunk: int
    chunks: list[ChunkOut]
    windows: list[WindowOut] = Field(description="best first; empty = no chunk scored")
    scan_calls: int
    scan_frames: int
    zoom_frames: int
    frames_decoded: int
    frames_reused: int
    keyframes_only: bool
    scan_usage: TokenCounts


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
    protocol: str = Field("rl", description="the prompt protocol that ran")
    answer: str | None
    confidence: float
    abstained: bool
    span: list[float] | None
    answer_box: AnswerBoxOut | None = Field(None, description="image requests: the box the "
                                            "answer names")
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
    search: SearchOut | None = Field(None, description="present when strategy=search ran")


class JobAccepted(BaseModel):
    job_id: str
    status: Literal["queued"] = "queued"
    object: Literal["job"] = "job"
