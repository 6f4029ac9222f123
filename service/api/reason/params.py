"""Request fields -> what the pipeline and the cache need, for `/v1/reason` and chat.

Owns the pure pieces of resolving a request that are not settings lookups: the prompt
spec (protocol + overrides, validated by building a dry-run prompt so an impossible one
is a 400 before anything is decoded), the parsed subtitle cues, the cache-key parts of
the prompt and the frame policy, a still image's cache id, and a trained checkpoint's
frame policy. No FastAPI, no I/O.

Invariants: prompt fields and the frame `grid` enter the cache key only when they
differ from their defaults; every refusal is an `ApiError` 400 naming its field.
"""

from __future__ import annotations

import hashlib
from typing import Any

from service.api.reason.protocol import ReasonFields
from service.errors import ApiError
from service.grounding.prompt import PromptError, PromptSpec, build_image_prompt, build_prompt
from service.grounding.protocols import Protocol
from service.grounding.subtitles import Cue, SubtitleError, parse_subtitles
from service.grounding.types import TaskType
from service.inference.checkpoint import TrainedFrames
from service.video.policy import FramePolicy


def policy_key(policy: FramePolicy) -> dict[str, Any]:
    """The frame policy's fields for the cache key; the default `grid` is left out so
    keys of requests that never name one do not change with the option's existence."""
    fields = dict(policy.__dict__)
    if fields.get("grid") == "exact":
        del fields["grid"]
    return fields


def image_source_id(data_url: str, tenant: str = "") -> str:
    """The cache's "video id" of a still image: a sha256 over the tenant and its data
    URL (tenants never share an entry)."""
    return "image:" + hashlib.sha256(tenant.encode() + b"\0" + data_url.encode()).hexdigest()


def trained_policy(t: TrainedFrames) -> FramePolicy:
    return FramePolicy(num_frames=t.num_frames, short_video_s=t.short_video_s,
                       short_fps=t.short_fps, min_frames=t.min_frames, max_frames=t.max_frames,
                       min_pixels=t.min_pixels, max_pixels=t.max_pixels)


def prompt_spec(f: ReasonFields) -> PromptSpec:
    """The request's protocol and overrides; refuses (400) a prompt the protocol cannot
    build, before anything is decoded."""
    spec = PromptSpec(protocol=Protocol(f.protocol), system=f.system,
                      instruction=f.instruction, preamble=f.preamble)
    task = TaskType(f.task) if f.task else None
    try:
        build_prompt(f.question, [0.0], task=task, options=f.options, duration=1.0, spec=spec)
        build_image_prompt(f.question, task=task, options=f.options, spec=spec)
    except PromptError as exc:
        raise ApiError(400, "invalid_prompt", str(exc), param="protocol") from exc
    return spec


def parse_cues(f: ReasonFields) -> tuple[Cue, ...] | None:
    if f.subtitles is not None and f.video_subtitles:
        raise ApiError(400, "invalid_subtitles", "give subtitles or video_subtitles, not both",
                       param="subtitles")
    if f.subtitles is None:
        return None
    try:
        return tuple(parse_subtitles(f.subtitles))
    except SubtitleError as exc:
        raise ApiError(400, "invalid_subtitles", str(exc), param="subtitles") from exc


def prompt_key(f: ReasonFields) -> dict[str, Any]:
    """The prompt fields that differ from the default (see the module docstring)."""
    fields = {"protocol": None if f.protocol == "rl" else f.protocol, "system": f.system,
              "instruction": f.instruction, "preamble": f.preamble, "subtitles": f.subtitles,
              "video_subtitles": f.video_subtitles or None}
    return {k: v for k, v in fields.items() if v is not None}
