"""Wire models of the OpenAI-compatible surface (`/v1/chat/completions`, `/v1/models`).

Standard fields keep OpenAI's names and meanings; our additions are extra fields:
request `frame_times`, `duration`, `voting`, `task`, `options`, `protocol`,
`instruction`, `preamble`, `subtitles`, `video_subtitles`; response
`message.reasoning_content` and top-level `grounding`. A `system` (or `developer`)
message is the system prompt (it replaces the protocol's). ONE `image_url` part
without `frame_times` / `duration` is a still image (image prompt, `answer_box`);
several, or one with times, are video frames. Unknown request fields that
real clients send (`user`, `logprobs`, `tools`, ...) are accepted and ignored.

Standard fields with a meaning of their own here (docs/API.md, "OpenAI semantics"):
- `max_completion_tokens` wins over the deprecated `max_tokens` (as in OpenAI, vLLM).
- `stream_options.include_usage` (default false, as OpenAI): only then a final chunk
  with `usage` and no choices; without it every chunk has a choice.
- `reasoning_effort` is accepted (OpenAI's values, plus vLLM's `max`) and changes
  nothing: the model always reasons in `<think>` (its grounding is in there) and N is
  `n`. `response_format` `{"type": "text"}` is accepted (what the content is anyway);
  `json_object` / `json_schema` are refused (400): a grounded trace is not JSON.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from service.api.reason.protocol import (
    MAX_INSTRUCTION_CHARS,
    MAX_PREAMBLE_CHARS,
    MAX_SUBTITLES_CHARS,
    ProtocolName,
)


class TextPart(BaseModel):
    type: Literal["text"]
    text: str = Field(max_length=16000)


class ImageUrl(BaseModel):
    url: str
    detail: str | None = None


class ImageUrlPart(BaseModel):
    type: Literal["image_url"]
    image_url: ImageUrl


class VideoUrl(BaseModel):
    url: str = Field(description="data:video/mp4;base64,... or video://<video_id>")


class VideoUrlPart(BaseModel):
    type: Literal["video_url"]
    video_url: VideoUrl


ContentPart = Annotated[TextPart | ImageUrlPart | VideoUrlPart, Field(discriminator="type")]


class ChatMessage(BaseModel):
    model_config = ConfigDict(extra="ignore")  # accepted, not kept (memory: see api/body)

    role: Literal["system", "user", "assistant", "developer", "tool"]
    content: str | list[ContentPart] | None = None


class StreamOptions(BaseModel):
    model_config = ConfigDict(extra="allow")

    include_usage: bool = False


class ResponseFormat(BaseModel):
    model_config = ConfigDict(extra="allow")

    type: Literal["text", "json_object", "json_schema"]


class ChatCompletionRequest(BaseModel):
    model_config = ConfigDict(extra="ignore", json_schema_extra={"examples": [{
        "model": "open-o3-video",
        "messages": [{"role": "user", "content": [
            {"type": "video_url", "video_url": {"url": "video://9f86d0818..."}},
            {"type": "text", "text": "What is the man holding? A. a cup B. a phone"}]}],
        "n": 8, "temperature": 1.0, "max_tokens": 1024}]})

    model: str = Field("", max_length=256)
    messages: list[ChatMessage] = Field(min_length=1, max_length=64)
    n: int | None = Field(None, ge=1, le=64, description="sampled traces voted over")
    temperature: float | None = Field(None, ge=0.0, le=2.0)
    top_p: float | None = Field(None, gt=0.0, le=1.0)
    top_k: int | None = Field(None, ge=-1, le=1000)
    max_tokens: int | None = Field(None, ge=1, le=32768)
    max_completion_tokens: int | None = Field(None, ge=1, le=32768)
    repetition_penalty: float | None = Field(None, gt=0.0, le=2.0)
    seed: int | None = Field(None, ge=0, le=2**31 - 1)
    stream: bool = False
    stream_options: StreamOptions | None = None
    reasoning_effort: Literal["none", "minimal", "low", "medium", "high", "xhigh",
                              "max"] | None = Field(
        None, description="accepted, no effect: the model always reasons (<think>)")
    response_format: ResponseFormat | None = Field(
        None, description='{"type": "text"} only (json_object/json_schema: 400)')
    frame_times: list[float] | None = Field(None, max_length=256,
                                            description="seconds of each image_url frame")
    duration: float | None = Field(None, gt=0, description="video length the frames span")
    voting: Literal["single", "majority", "confidence"] = "confidence"
    weight_mode: Literal["code", "paper", "released"] = "code"
    task: Literal["free-form", "mcq", "temporal"] | None = None
    options: list[str] | None = Field(None, max_length=26)
    protocol: ProtocolName = "rl"
    instruction: str | None = Field(None, min_length=1, max_length=MAX_INSTRUCTION_CHARS)
    preamble: str | None = Field(None, min_length=1, max_length=MAX_PREAMBLE_CHARS)
    subtitles: str | None = Field(None, max_length=MAX_SUBTITLES_CHARS)
    video_subtitles: bool = False
    strategy: Literal["auto", "uniform", "search"] = Field(
        "auto", description="video_url requests: uniform frames or a grounded search "
        "(runs inside the request; /v1/reason runs it as a job)")


class ModelCard(BaseModel):
    id: str
    object: Literal["model"] = "model"
    created: int
    owned_by: str = "open-o3-serve"
    random_tiny_model: bool = False
    revision: str = ""


class ModelList(BaseModel):
    object: Literal["list"] = "list"
    data: list[ModelCard]


class AssistantMessage(BaseModel):
    role: Literal["assistant"] = "assistant"
    content: str
    reasoning_content: str | None = None


class Choice(BaseModel):
    index: int = 0
    message: AssistantMessage
    finish_reason: str = "stop"


class Usage(BaseModel):
    prompt_tokens: int
    completion_tokens: int
    total_tokens: int


class ChatCompletion(BaseModel):
    id: str
    object: Literal["chat.completion"] = "chat.completion"
    created: int
    model: str
    choices: list[Choice]
    usage: Usage
    grounding: dict[str, Any] = Field(
        description="confidence, abstained, votes, evidence, frames, span (as in /v1/reason)")
