"""The OpenAI-compatible chat service: a chat request -> a verdict -> a chat completion.

A request carries either one `video_url` part (a base64 `data:` URL, stored like an
upload, or `video://<id>` of an uploaded video) -> the same path as `/v1/reason`
(cache, limits, sampler); or `image_url` frames (data URLs) -> resized with the
sampler's size rule and fed as frames at `frame_times` (or evenly spread over
`duration`, else one second apart); ONE `image_url` without times is a still image
(`ReasonService.answer_image`: image prompt, `answer_box`). User text parts, joined,
are the question; system / developer messages, joined, replace the protocol's system
prompt (the `system` override of `/v1/reason`).
Frame requests use the result cache too: the key is built like `/v1/reason`'s, with
`frames_source_id` (sha256 of each frame's bytes as sent + the times) in place of the
video id, so a repeated request decodes no image and calls no backend.

The assistant message content is the answer only (harnesses parse it);
`reasoning_content` is the winning trace's think text; `grounding` carries the rest.
`finish_reason` is that winning trace's: `length` when it was cut at the token limit;
with no winner (abstained), `length` when every trace was cut, else `stop`.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import time
import uuid
from collections.abc import AsyncIterator, Sequence
from typing import Any

from PIL import Image
from pydantic import ValidationError

from service.api.errors import invalid_request
from service.api.media import Media
from service.api.openai.blobs import Blobs
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
from service.api.reason.protocol import (
    MAX_SYSTEM_CHARS,
    FramesIn,
    ReasonFields,
    ReasonResponse,
    SamplingIn,
    TraceOut,
)
from service.api.reason.service import ReasonService, image_limit_message
from service.api.videos.service import VideosService
from service.errors import ApiError
from service.grounding.types import FrameSetMeta
from service.inference.images import ImageDataError, from_data_url
from service.security.auth import ANONYMOUS, Principal
from service.settings import Settings
from service.video.frameset import FrameSet
from service.video.policy import fit_size

VIDEO_REF = "video://"
TEXT_MAX = 16000  # TextPart's limit
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


def system_text(req: ChatCompletionRequest) -> str | None:
    """The system prompt the client sent (system / developer messages, joined), if any."""
    texts: list[str] = []
    for msg in req.messages:
        if msg.role not in ("system", "developer") or msg.content is None:
            continue
        parts = [msg.content] if isinstance(msg.content, str) else [
            p.text for p in msg.content if isinstance(p, TextPart)]
        texts.extend(t for t in parts if t.strip())
    if not texts:
        return None
    text = "\n".join(texts)
    if len(text) > MAX_SYSTEM_CHARS:
        raise _bad(f"the system prompt exceeds {MAX_SYSTEM_CHARS} characters")
    return text


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


async def _decoded_chunks(data_url: str | bytes | memoryview) -> AsyncIterator[bytes]:
    """The decoded bytes of a `data:video/...;base64,` URL, a slice at a time (the URL
    may be a view into the request's body buffer: nothing is copied whole)."""
    view = memoryview(data_url.encode() if isinstance(data_url, str) else data_url)
    comma = bytes(view[:256]).find(b",")
    head = bytes(view[:comma]) if comma > 0 else b""
    if comma < 0 or b";base64" not in head or not head[5:].startswith(b"video/"):
        raise _bad("video_url must be data:video/...;base64,... or video://<video_id>",
                   "unsupported_video_url")
    body = view[comma + 1:]
    step = CHUNK // 3 * 4  # a multiple of 4 base64 characters: every slice decodes alone
    for i in range(0, len(body), step):
        try:
            yield base64.b64decode(body[i:i + step], validate=True)
        except (binascii.Error, ValueError) as exc:
            raise _bad(f"invalid base64 in video data URL: {exc}") from exc


def _text_back(text: str, blobs: Blobs) -> str:
    """A text lifted as a data: URL, as text again (400 when longer than a text part)."""
    view = blobs.lookup(text)
    if view is None:
        return text
    if len(view) > TEXT_MAX:
        raise _bad(f"a text part is over {TEXT_MAX} characters")
    return bytes(view).decode("utf-8", "replace")


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
        try:
            return ReasonFields(question=question, options=req.options, task=req.task,
                                n=req.n, voting=req.voting, weight_mode=req.weight_mode,
                                sampling=s, frames=FramesIn(),
                                return_traces=True, protocol=req.protocol,
                                system=system_text(req), instruction=req.instruction,
                                preamble=req.preamble, subtitles=req.subtitles,
                                video_subtitles=req.video_subtitles,
                                strategy=req.strategy)
        except ValidationError as exc:  # e.g. the joined text parts are over 8,000 chars
            raise invalid_request(exc, rename={"question": "messages", "": "messages"}) from exc

    async def inline_blobs(self, req: ChatCompletionRequest, blobs: Blobs,
                           who: Principal = ANONYMOUS) -> None:
        """Replace the placeholders of lifted `data:` URLs (`blobs`): the one video is
        stored for `who` (streamed from the body buffer) and becomes `video://<id>`;
        images become their URL text again. A request whose shape is wrong (two
        videos, video and images) is left for `complete` to refuse."""
        if not blobs.views:
            return
        if req.options is not None:  # text that happened to start with "data:": text again
            req.options = [_text_back(o, blobs) for o in req.options]
        for m in req.messages:
            if isinstance(m.content, str):
                m.content = _text_back(m.content, blobs)
            for p in m.content if isinstance(m.content, list) else []:
                if isinstance(p, TextPart):
                    p.text = _text_back(p.text, blobs)
        parts = [p for m in req.messages if m.role == "user" and isinstance(m.content, list)
                 for p in m.content]
        n_videos = sum(isinstance(p, VideoUrlPart) for p in parts)
        n_images = sum(isinstance(p, ImageUrlPart) for p in parts)
        for part in parts:
            if isinstance(part, ImageUrlPart) and (view := blobs.lookup(part.image_url.url)):
                part.image_url.url = bytes(view).decode("ascii", "replace")
            elif (isinstance(part, VideoUrlPart) and n_videos == 1 and not n_images
                  and (view := blobs.lookup(part.video_url.url)) is not None):
                video, _ = await self.videos.upload(_decoded_chunks(view), who)
                part.video_url.url = VIDEO_REF + video.id

    async def complete(self, req: ChatCompletionRequest, request_id: str,
                       who: Principal = ANONYMOUS) -> ChatCompletion:
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
            resp = await self._video(videos[0], fields, request_id, who)
        elif images:
            resp = await self._frames(images, req, fields, request_id, who)
        else:
            raise _bad("the user message needs a video_url part or image_url frames")
        return to_completion(resp)

    async def _video(self, url: str, fields: ReasonFields, rid: str,
                     who: Principal) -> ReasonResponse:
        if url.startswith(VIDEO_REF):
            video_id = url[len(VIDEO_REF):]
            self.reason.media.owned_path(who, video_id)
        elif url.startswith("data:"):
            video_id = (await self.videos.upload(_decoded_chunks(url), who))[0].id
        else:
            raise _bad("video_url must be data:video/...;base64,... or video://<video_id>",
                       "unsupported_video_url")
        return await self.reason.answer(fields, video_id, rid)

    async def _frames(self, urls: list[str], req: ChatCompletionRequest, fields: ReasonFields,
                      rid: str, who: Principal) -> ReasonResponse:
        if len(urls) == 1 and req.frame_times is None and req.duration is None:
            return await self.reason.answer_image(fields, urls[0], rid, who)  # a still image
        if fields.video_subtitles:
            raise _bad("video_subtitles needs a video_url, not image frames",
                       "invalid_subtitles", "video_subtitles")
        times = frame_times(len(urls), req.frame_times, req.duration)
        return await self.reason.answer_frames(
            fields, frames_source_id(urls, times, who.tenant),
            lambda policy: to_frameset(urls, times, policy.min_pixels, policy.max_pixels),
            rid, video_id="")


def frames_source_id(urls: list[str], times: list[float], tenant: str = "") -> str:
    """The cache's "video id" of a list of image frames: a sha256 over the tenant, each
    frame's sha256 (of its data URL, i.e. its bytes as sent) and the frame times.
    Looking it up decodes nothing; tenants never share an entry."""
    digest = hashlib.sha256(tenant.encode() + b"\0")
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
                                                 "answer_box",
                                                 "defects", "cached", "video_id",
                                                 "search", "greedy_repeated"})
    data["model_revision"] = resp.model_revision
    data["protocol"] = resp.protocol
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
