"""The reason service: a question about a stored video -> a ReasonResponse. No FastAPI.

    cache lookup (no probe, no decode, no inference on a hit)
      -> probe (limits) -> [defer to a job when long or async]
      -> admission gate -> decode frames -> pipeline -> response -> cache store

Invariants:
- The cache key covers the video sha256, the question, options, task, n, voting,
  weight mode, abstention threshold, every sampling and frame parameter, and the
  model id + revision: nothing that changes the result is left out.
- Probing and decoding run in worker threads, never on the event loop.
- A Redis failure only costs the cache (see `state.cache`).
- A cache hit is answered without parsing the entry: entries are stored without the
  per-request fields (`PER_REQUEST_FIELDS`), which are spliced in front of the bytes.
- `parse_json` memoises, per service, the validated request (frozen models) and its
  cache key by the body's exact bytes (bodies up to `MEMO_MAX_BODY`, the last
  `MEMO_ENTRIES`): a client repeating a request skips validation, parameter resolution
  and key hashing. Safe because all three are pure functions of the bytes, the
  settings and the model, and the last two are fixed for the service's lifetime.
  Nothing that can change is memoised: the video's existence is checked per request,
  and a body that fails validation or resolution is never remembered.
"""

from __future__ import annotations

import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from service.api.errors import ApiError
from service.api.media import Media
from service.api.reason.convert import verdict_response
from service.api.reason.protocol import ReasonFields, ReasonRequest, ReasonResponse
from service.grounding.types import TaskType
from service.inference.backend import (
    Backend,
    BackendError,
    SamplingParams,
    clamp_temperature,
)
from service.inference.pipeline import Pipeline
from service.inference.types import PipelineOptions, Verdict, VotingMode, WeightMode
from service.observability.metrics import Metrics
from service.security.limits import InferenceGate
from service.settings import Settings
from service.state.cache import ResultCache, cache_key
from service.video.frameset import FrameSet
from service.video.policy import FramePolicy

# fields that differ per request: left out of a cached entry, spliced in on a hit
PER_REQUEST_FIELDS = frozenset({"id", "request_id", "cached"})
CACHE_FORMAT = 3  # bumped when the stored entry's layout changes (old entries unused)
MEMO_MAX_BODY = 8 * 1024  # JSON bodies longer than this are validated every time
MEMO_ENTRIES = 1024
Parsed = tuple[ReasonRequest, str | None]  # a JSON request and its cache key (when known)


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    revision: str
    random_tiny: bool


@dataclass(frozen=True)
class Resolved:
    """A request's parameters with settings defaults filled in."""

    n: int
    sampling: SamplingParams
    policy: FramePolicy


def image_limit_message(count: int, limit: int) -> str:
    return (f"{count} frames exceed the backend's image limit of {limit} per prompt "
            "(O3_MAX_IMAGES, vLLM's --limit-mm-per-prompt); send at most "
            f"{limit}")


class ReasonService:
    def __init__(self, *, settings: Settings, media: Media, cache: ResultCache,
                 backend: Backend, gate: InferenceGate, metrics: Metrics,
                 model: ModelInfo) -> None:
        self.settings = settings
        self.media = media
        self.cache = cache
        self.pipeline = Pipeline(backend)
        self.gate = gate
        self.metrics = metrics
        self.model = model
        self._parse_memo: Callable[[bytes], Parsed] = functools.lru_cache(
            maxsize=MEMO_ENTRIES)(self._parse)

    # ---- parameters ---------------------------------------------------------------
    def resolve(self, f: ReasonFields) -> Resolved:
        s = self.settings
        n = f.n or s.default_n
        if n > s.max_n:
            raise ApiError(400, "n_too_large", f"n={n} exceeds the limit {s.max_n} (O3_MAX_N)",
                           param="n")
        sp = f.sampling
        sampling = SamplingParams(clamp_temperature(sp.temperature), sp.top_p, sp.top_k,
                                  sp.max_tokens or s.default_max_tokens,
                                  sp.repetition_penalty, sp.seed)
        return Resolved(n, sampling, self._policy(f))

    def _policy(self, f: ReasonFields) -> FramePolicy:
        s, fr = self.settings, f.frames
        min_px = fr.min_pixels or s.default_min_pixels
        max_px = fr.max_pixels or s.default_max_pixels
        if min_px > max_px:
            raise ApiError(400, "invalid_frames", "frames.min_pixels exceeds frames.max_pixels",
                           param="frames.min_pixels")
        # neither given: the settings' defaults; otherwise exactly what was asked. Both
        # given means "at this fps, at most num_frames" (FramePolicy): V-STAR's 16 @ 1 fps
        num: int | None = fr.num_frames
        fps = fr.fps
        if num is None and fps is None:
            num, fps = s.default_num_frames, s.default_fps
        if num is not None and num > s.max_images:
            raise ApiError(400, "too_many_frames", image_limit_message(num, s.max_images),
                           param="frames.num_frames")
        # at a fixed fps the count is capped (thinned) at the backend's image limit
        return FramePolicy(num_frames=num, fps=fps, min_pixels=min_px, max_pixels=max_px,
                           max_frames=s.max_images)

    def key(self, f: ReasonFields, video_id: str, r: Resolved) -> str:
        parts: dict[str, Any] = {
            "video": video_id, "question": f.question, "options": f.options, "task": f.task,
            "n": r.n, "voting": f.voting, "weight_mode": f.weight_mode,
            "abstain_below": f.abstain_below, "sampling": r.sampling.__dict__,
            "policy": r.policy.__dict__, "traces": f.return_traces,
            "model": self.model.model_id, "revision": self.model.revision,
            "format": CACHE_FORMAT,
        }
        return cache_key(parts)

    def parse_json(self, body: bytes) -> Parsed:
        """The validated JSON request (raises pydantic's ValidationError) and, for a
        `video_id` request whose parameters resolve, its cache key; memoised by the
        body's bytes (see the module docstring)."""
        return self._parse_memo(body) if len(body) <= MEMO_MAX_BODY else self._parse(body)

    def _parse(self, body: bytes) -> Parsed:
        req = ReasonRequest.model_validate_json(body)
        if req.video_id is None:
            return req, None
        try:
            resolved = self.resolve(req)
        except ApiError:  # raised again, in order, when the request is served
            return req, None
        return req, self.key(req, req.video_id, resolved)

    # ---- the request --------------------------------------------------------------
    async def cached_body(self, f: ReasonFields, video_id: str, request_id: str,
                          key: str | None = None) -> bytes | None:
        """The cached response as JSON bytes (the hot path: nothing is parsed). Entries
        are stored without the per-request fields; those are spliced in front. `key`:
        the request's cache key when the caller has it (`parse_json`)."""
        if self.settings.cache_ttl_s <= 0:
            return None
        raw = await self.cache.get(key or self.key(f, video_id, self.resolve(f)))
        self.metrics.child(self.metrics.cache, "hit" if raw else "miss").inc()
        if not raw or not raw.startswith(b"{") or raw == b"{}":
            return None
        head = json.dumps({"id": _new_id(), "request_id": request_id, "cached": True})
        return head.encode()[:-1] + b"," + raw[1:]

    async def cached(
        self, f: ReasonFields, video_id: str, request_id: str
    ) -> ReasonResponse | None:
        body = await self.cached_body(f, video_id, request_id)
        return None if body is None else ReasonResponse.model_validate_json(body)

    async def must_defer(self, f: ReasonFields, video_id: str) -> bool:
        """True when the request should become a job (async, or a long video)."""
        if f.async_:
            return True
        info = await self.media.probe(video_id)
        return info.duration > self.settings.sync_max_duration_s

    async def run(self, f: ReasonFields, video_id: str, request_id: str, *,
                  wait: bool = False) -> ReasonResponse:
        """Answer without consulting the cache first (the caller did); store the result.
        `wait`: wait for an inference slot even when the queue is full (job workers)."""
        r = self.resolve(f)
        start = time.perf_counter()
        t0 = time.perf_counter()
        info = await self.media.probe(video_id)
        probe_s = time.perf_counter() - t0
        async with self.gate.slot(wait=wait):
            t0 = time.perf_counter()
            frames = await self.media.sample(video_id, info, r.policy)
            decode_s = time.perf_counter() - t0
            verdict = await self._infer(f, r, frames)
        timings = verdict.timings.as_dict() | {"probe": probe_s, "decode": decode_s}
        self.metrics.observe_stages(timings)
        timings["total"] = time.perf_counter() - start
        resp = verdict_response(
            verdict, frames.meta, response_id=_new_id(), request_id=request_id,
            video_id=video_id, random_tiny=self.model.random_tiny, timings=timings,
            with_traces=f.return_traces)
        await self.remember(f, video_id, r, resp)
        return resp

    async def remember(self, f: ReasonFields, video_id: str, r: Resolved,
                       resp: ReasonResponse) -> None:
        """Store a computed response under its cache key (no-op when the cache is off)."""
        if self.settings.cache_ttl_s > 0:
            stored = resp.model_dump_json(exclude=set(PER_REQUEST_FIELDS)).encode()
            await self.cache.set(self.key(f, video_id, r), stored)

    async def answer(self, f: ReasonFields, video_id: str, request_id: str, *,
                     wait: bool = False) -> ReasonResponse:
        return await self.cached(f, video_id, request_id) or await self.run(
            f, video_id, request_id, wait=wait)

    async def _infer(self, f: ReasonFields, r: Resolved, frames: FrameSet) -> Verdict:
        opts = PipelineOptions(n=r.n, voting=VotingMode(f.voting),
                               weight_mode=WeightMode(f.weight_mode), sampling=r.sampling,
                               abstain_below=f.abstain_below, return_traces=f.return_traces)
        try:
            return await self.pipeline.run(frames, f.question, options=f.options,
                                           task=TaskType(f.task) if f.task else None, opts=opts)
        except BackendError as exc:
            self.metrics.backend_errors.labels(exc.code).inc()
            raise


def _new_id() -> str:
    return "rsn_" + os.urandom(16).hex()  # 128 random bits, as a uuid4 hex

