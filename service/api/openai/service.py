"""The OpenAI-compatible chat service: a chat request -> a verdict -> a chat completion.

A request carries either one `video_url` part (a base64 `data:` URL, stored like an
upload, or `video://<id>` of an uploaded video) -> the same path as `/v1/reason`
(cache, limits, sampler); or `image_url` frames (data URLs) -> resized with the
sampler's size rule and fed as frames at `frame_times` (or evenly spread over
`duration`, else one second apart). User text parts, joined, are the question;
system messages are ignored (the model's own system prompt is fixed by its training).
Frame requests use the result cache too: the key is built like `/v1/reason`'s, with
`frames_source_id` (sha256 of each frame's bytes as sent + the times) in place of the
video id, so a repeated request decodes no image and calls no backend.

The assistant message content is the answer only (harnesses parse it);
`reasoning_content` is the winning trace's think text; `grounding` carries the rest.
`finish_reason` is that winning trace's: `length` when it was cut at the token limit;
with no winner (abstained), `length` when every trace was cut, else `stop`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from PIL import Image

from service.api.errors import ApiError
from service.api.media import Media
from service.api.openai.protocol import (
    AssistantMessage,
    ChatCompletion,
    ChatCompletionRequest,
    Choice,
    ImageUrlPart,
    TextPart,
    Usage,
    VideoUrlPart,
)
from service.api.reason.convert import verdict_response
from service.api.reason.protocol import (
    FramesIn,
    ReasonFields,
    ReasonResponse,
    SamplingIn,
    TraceOut,
)
from service.api.reason.service import ReasonService, image_limit_message
from service.api.videos.service import VideosService
from service.grounding.types import FrameSetMeta, TaskType
from service.inference.images import ImageDataError, from_data_url
from service.inference.types import PipelineOptions, VotingMode
from service.settings import Settings
from service.video.frameset import FrameSet
from service.video.policy import fit_size

VIDEO_REF = "video://"
CHUNK = 1 << 20


def _bad(message: str, code: str = "invalid_request", param: str = "messages") -> ApiError:
    return ApiError(400, code, message, param=param)


def split_messages(req: ChatCompletionRequest) -> tuple[str, list[str], list[str]]:
    """(question, image data URLs, video URLs) from the user messages, in order."""
    texts: list[str] = []
    images: list[str] = []
    videos: list[str] = []
    for msg in req.messages:
        if msg.role != "user" or msg.content is None:
            continue
        if isinstance(msg.content, str):
            texts.append(msg.content)
            continue
        for part in msg.content:
            if isinstance(part, TextPart):
                texts.append(part.text)
            elif isinstance(part, ImageUrlPart):
                images.append(part.image_url.url)
            elif isinstance(part, VideoUrlPart):
                videos.append(part.video_url.url)
    question = "\n".join(t.strip() for t in texts if t.strip())
    if not question:
        raise _bad("the user message needs a text part with the question")
    return question, images, videos


def frame_times(n: int, given: Sequence[float] | None, duration: float | None) -> list[float]:
    if given is not None:
        if len(given) != n:
            raise _bad(f"frame_times has {len(given)} entries for {n} image frames",
                       param="frame_times")
        if any(t < 0 for t in given) or list(given) != sorted(given):
            raise _bad("frame_times must be non-negative and increasing", param="frame_times")
        return [float(t) for t in given]
    step = (duration / n) if duration else 1.0
    return [round(i * step, 3) for i in range(n)]


async def _decoded_chunks(data_url: str) -> AsyncIterator[bytes]:
    head, sep, body = data_url.partition(",")
    if not sep or ";base64" not in head or not head[5:].startswith("video/"):
        raise _bad("video_url must be data:video/...;base64,... or video://<video_id>",
                   "unsupported_video_url")
    step = CHUNK // 3 * 4  # a multiple of 4 base64 characters: every slice decodes alone
    for i in range(0, len(body), step):
        try:
            yield base64.b64decode(body[i:i + step], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad(f"invalid base64 in video data URL: {exc}") from exc


class ChatService:
    def __init__(self, settings: Settings, reason: ReasonService, media: Media) -> None:
        self.settings = settings
        self.reason = reason
        self.videos = VideosService(media)

    def fields(self, req: ChatCompletionRequest, question: str) -> ReasonFields:
        s = SamplingIn(temperature=1.0 if req.temperature is None else req.temperature,
                       top_p=req.top_p or 1.0, top_k=-1 if req.top_k is None else req.top_k,
                       max_tokens=req.max_completion_tokens or req.max_tokens,
                       repetition_penalty=req.repetition_penalty or 1.0, seed=req.seed)
        return ReasonFields(question=question, options=req.options, task=req.task, n=req.n,
                            voting=req.voting, sampling=s, frames=FramesIn(),
                            return_traces=True)

    async def complete(self, req: ChatCompletionRequest, request_id: str) -> ChatCompletion:
        if req.response_format is not None and req.response_format.type != "text":
            raise _bad(f"response_format {req.response_format.type!r} is not supported: the "
                       "answer is the model's grounded text; use {\"type\": \"text\"}",
                       "unsupported_response_format", "response_format")
        question, images, videos = split_messages(req)
        fields = self.fields(req, question)
        if len(videos) > 1 or (videos and images):
            raise _bad("send one video_url part, or image_url frames, not both")
        if len(images) > self.settings.max_images:
            raise _bad(image_limit_message(len(images), self.settings.max_images),
                       "too_many_frames")
        if videos:
            resp = await self._video(videos[0], fields, request_id)
        elif images:
            resp = await self._frames(images, req, fields, request_id)
        else:
            raise _bad("the user message needs a video_url part or image_url frames")
        return to_completion(resp)

    async def _video(self, url: str, fields: ReasonFields, rid: str) -> ReasonResponse:
        if url.startswith(VIDEO_REF):
            video_id = url[len(VIDEO_REF):]
            self.reason.media.path(video_id)
        elif url.startswith("data:"):
            video_id = (await self.videos.upload(_decoded_chunks(url)))[0].id
        else:
            raise _bad("video_url must be data:video/...;base64,... or video://<video_id>",
                       "unsupported_video_url")
        return await self.reason.answer(fields, video_id, rid)

    async def _frames(self, urls: list[str], req: ChatCompletionRequest, fields: ReasonFields,
                      rid: str) -> ReasonResponse:
        times = frame_times(len(urls), req.frame_times, req.duration)
        source = frames_source_id(urls, times)
        hit = await self.reason.cached(fields, source, rid)
        if hit is not None:
            return hit
        resp = await self._infer_frames(urls, times, fields, rid)
        await self.reason.remember(fields, source, self.reason.resolve(fields), resp)
        return resp

    async def _infer_frames(self, urls: list[str], times: list[float], fields: ReasonFields,
                            rid: str) -> ReasonResponse:
        frames = await asyncio.to_thread(to_frameset, urls, times,
                                         self.settings.default_min_pixels,
                                         self.settings.default_max_pixels)
        r = self.reason.resolve(fields)
        opts = PipelineOptions(n=r.n, voting=VotingMode(fields.voting), sampling=r.sampling,
                               return_traces=True)
        async with self.reason.gate.slot():
            verdict = await self.reason.pipeline.run(
                frames, fields.question, options=fields.options,
                task=TaskType(fields.task) if fields.task else None, opts=opts)
        return verdict_response(verdict, frames.meta, response_id="chatcmpl-" + uuid.uuid4().hex,
                                request_id=rid, video_id="",
                                random_tiny=self.reason.model.random_tiny,
                                timings=verdict.timings.as_dict(), with_traces=True)


def frames_source_id(urls: list[str], times: list[float]) -> str:
    """The cache's "video id" of a list of image frames: a sha256 over each frame's
    sha256 (of its data URL, i.e. its bytes as sent) and the frame times. Looking it up
    decodes nothing."""
    digest = hashlib.sha256()
    for url in urls:
        digest.update(hashlib.sha256(url.encode()).digest())
    digest.update(json.dumps(times).encode())
    return "frames:" + digest.hexdigest()


def to_frameset(urls: list[str], times: list[float], min_px: int, max_px: int) -> FrameSet:
    try:
        images = [from_data_url(u) for u in urls]
    except ImageDataError as exc:
        raise ApiError(400, exc.code, exc.message, param="messages") from exc
    orig = images[0].size
    try:
        fed = fit_size(orig[0], orig[1], min_px, max_px)
    except ValueError as exc:
        raise _bad(str(exc), "invalid_image") from exc
    resized = [im.resize(fed, Image.Resampling.BICUBIC) for im in images]
    step = (times[-1] - times[0]) / max(1, len(times) - 1) if len(times) > 1 else 1.0
    meta = FrameSetMeta(times=tuple(times), fed_size=fed, orig_size=orig,
                        duration=times[-1] + step)
    return FrameSet(resized, meta)


def winning_trace(resp: ReasonResponse) -> TraceOut | None:
    """The first trace that voted for the answer (its think is the reasoning shown)."""
    if not resp.traces or resp.answer is None:
        return None
    winner = next((v for v in resp.votes if v.answer == resp.answer), None)
    if winner is None or not winner.traces:
        return None
    return {t.index: t for t in resp.traces}.get(winner.traces[0])


def winning_think(resp: ReasonResponse) -> str | None:
    trace = winning_trace(resp)
    return trace.think if trace else None


def finish_reason(resp: ReasonResponse) -> str:
    """The winning trace's finish reason; with none, `length` if every trace was cut."""
    trace = winning_trace(resp)
    if trace is not None:
        return "length" if trace.finish_reason == "length" else "stop"
    traces = resp.traces or []
    return "length" if traces and all(t.finish_reason == "length" for t in traces) else "stop"


def grounding(resp: ReasonResponse) -> dict[str, Any]:
    data = resp.model_dump(mode="json", include={"confidence", "abstained", "votes", "evidence",
                                                 "frames", "span", "random_tiny_model",
                                                 "defects", "cached", "video_id",
                                                 "greedy_repeated"})
    data["model_revision"] = resp.model_revision
    return data


def to_completion(resp: ReasonResponse) -> ChatCompletion:
    u = resp.usage
    msg = AssistantMessage(content=resp.answer or "", reasoning_content=winning_think(resp))
    return ChatCompletion(
        id="chatcmpl-" + uuid.uuid4().hex, created=int(time.time()), model=resp.model,
        choices=[Choice(message=msg, finish_reason=finish_reason(resp))],
        usage=Usage(prompt_tokens=u.prompt_tokens, completion_tokens=u.completion_tokens,
                    total_tokens=u.total_tokens),
        grounding=grounding(resp))
