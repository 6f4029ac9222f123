"""The reason service: a question about a stored video -> a ReasonResponse. No FastAPI.

    cache lookup (no decode, no inference on a hit)
      -> probe (limits) -> [defer to a job when long, async, or a search]
      -> admission gate -> decode frames -> pipeline -> response -> cache store
    strategy=search (explicit, or auto on a video over the threshold): the same
      gate, then `reason.search` (scan, zoom, vote through the frame cache)

Invariants:
- The cache key covers the video sha256, the question, options, task, n, voting,
  weight mode, abstention threshold, every sampling and frame parameter, the prompt
  protocol and overrides (system, instruction, preamble, subtitles), and the model id +
  revision: nothing that changes the result is left out. Prompt fields enter the key
  only when they differ from the default, so a default request's key is the same
  whether or not a client spells the defaults out. A search's key adds the strategy
  and every search knob; a uniform key (explicit or auto on a short video) is exactly
  the key it was before strategies existed. An `auto` lookup needs the duration: the
  memoised probe (no decode) tells it.
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

import asyncio
import functools
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

from service.api.media import Media, still_frameset
from service.api.reason.convert import verdict_response
from service.api.reason.params import (
    image_source_id,
    parse_cues,
    policy_key,
    prompt_key,
    prompt_spec,
    trained_policy,
)
from service.api.reason.protocol import ReasonFields, ReasonRequest, ReasonResponse
from service.api.reason.search import (
    OnProgress,
    check_plan,
    resolve_strategy,
    run_search_response,
    search_key_parts,
    search_options,
)
from service.errors import ApiError
from service.grounding.prompt import PromptSpec
from service.grounding.subtitles import Cue
from service.grounding.types import TaskType
from service.grounding.voting import VotingMode
from service.inference.backend import (
    Backend,
    BackendError,
    SamplingParams,
    clamp_temperature,
)
from service.inference.checkpoint import TrainedFrames
from service.inference.pipeline import Pipeline
from service.inference.search.types import SearchOptions
from service.inference.types import PipelineOptions, Verdict, WeightMode
from service.observability.metrics import Metrics
from service.security.auth import ANONYMOUS, Principal
from service.security.limits import InferenceGate
from service.settings import Settings
from service.state.cache import ResultCache, cache_key
from service.video.frameset import FrameSet
from service.video.policy import FramePolicy, fit_size
from service.video.probe import VideoInfo

# fields that differ per request: left out of a cached entry, spliced in on a hit
PER_REQUEST_FIELDS = frozenset({"id", "request_id", "cached"})
# bumped when the stored entry's layout or the default prompt changes (old entries unused);
# 4: the default `rl` prompt carries the RL trainer's duration line
CACHE_FORMAT = 4
MEMO_MAX_BODY = 8 * 1024  # JSON bodies longer than this are validated every time
MEMO_ENTRIES = 1024
FRAME_SETTINGS = frozenset({"default_num_frames", "default_fps", "default_min_pixels",
                            "default_max_pixels"})
Parsed = tuple[ReasonRequest, str | None]  # a JSON request and its cache key (when known)


@dataclass(frozen=True)
class ModelInfo:
    model_id: str
    revision: str
    random_tiny: bool
    frames: TrainedFrames | None = None  # the checkpoint's training frame policy


@dataclass(frozen=True)
class Resolved:
    """A request's parameters with settings defaults filled in."""

    n: int
    sampling: SamplingParams
    policy: FramePolicy
    prompt: PromptSpec
    cues: tuple[Cue, ...] | None  # parsed `subtitles` text


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
        return Resolved(n, sampling, self._policy(f), prompt_spec(f), parse_cues(f))

    def _policy(self, f: ReasonFields) -> FramePolicy:
        """The request's frames; what it leaves out comes from the checkpoint's training
        config (a trained checkpoint) or the settings."""
        s, fr = self.settings, f.frames
        trained = self._trained_frames()
        base = trained_policy(trained) if trained else FramePolicy(
            num_frames=s.default_num_frames, fps=s.default_fps,
            min_pixels=s.default_min_pixels, max_pixels=s.default_max_pixels)
        min_px = fr.min_pixels or base.min_pixels
        max_px = fr.max_pixels or base.max_pixels
        if min_px > max_px:
            raise ApiError(400, "invalid_frames", "frames.min_pixels exceeds frames.max_pixels",
                           param="frames.min_pixels")
        # neither given: the defaults; otherwise exactly what was asked. Both given means
        # "at this fps, at most num_frames" (FramePolicy): V-STAR's 16 @ 1 fps
        if fr.num_frames is None and fr.fps is None:
            policy = replace(base, min_pixels=min_px, max_pixels=max_px)
        else:
            policy = replace(base, num_frames=fr.num_frames, fps=fr.fps, min_pixels=min_px,
                             max_pixels=max_px, grid=fr.grid or base.grid)
        if policy.num_frames is not None and policy.num_frames > s.max_images:
            raise ApiError(400, "too_many_frames",
                           image_limit_message(policy.num_frames, s.max_images),
                           param="frames.num_frames")
        # at a fixed fps the count is capped (thinned) at the backend's image limit
        return replace(policy, max_frames=min(policy.max_frames, s.max_images),
                       min_frames=min(policy.min_frames, s.max_images))

    def _trained_frames(self) -> TrainedFrames | None:
        """The checkpoint's training frame policy, unless an operator set frame defaults."""
        if self.settings.model_fields_set & FRAME_SETTINGS:
            return None
        return self.model.frames

    def key(self, f: ReasonFields, video_id: str, r: Resolved,
            search: SearchOptions | None = None) -> str:
        """The cache key; `search` given: the search's key (the uniform one plus the
        strategy and every search knob), else exactly the uniform key."""
        parts: dict[str, Any] = {
            "video": video_id, "question": f.question, "options": f.options, "task": f.task,
            "n": r.n, "voting": f.voting, "weight_mode": f.weight_mode,
            "abstain_below": f.abstain_below, "sampling": r.sampling.__dict__,
            "policy": policy_key(r.policy), "traces": f.return_traces,
            "model": self.model.model_id, "revision": self.model.revision,
            "format": CACHE_FORMAT,
        }
        if search is not None:
            parts.update(search_key_parts(search))
        return cache_key(parts | prompt_key(f))

    def parse_json(self, body: bytes | bytearray) -> Parsed:
        """The validated JSON request (raises pydantic's ValidationError) and, for a
        `video_id` request whose parameters resolve, its cache key; memoised by the
        body's bytes (see the module docstring)."""
        if len(body) <= MEMO_MAX_BODY:
            return self._parse_memo(bytes(body))
        return self._parse(body)

    def _parse(self, body: bytes | bytearray) -> Parsed:
        req = ReasonRequest.model_validate_json(body, strict=True)  # "2"/true are no int
        if req.video_id is None:
            return req, None
        try:
            resolved = self.resolve(req)
            search = search_options(req, self.settings) if req.strategy == "search" else None
        except ApiError:  # raised again, in order, when the request is served
            return req, None
        return req, self.key(req, req.video_id, resolved, search)

    # ---- the request --------------------------------------------------------------
    async def cached_body(self, f: ReasonFields, video_id: str, request_id: str,
                          key: str | None = None) -> bytes | None:
        """The cached response as JSON bytes (the hot path: nothing is parsed). Entries
        are stored without the per-request fields; those are spliced in front. `key`:
        the request's cache key when the caller has it (`parse_json`)."""
        if self.settings.cache_ttl_s <= 0:
            return None
        if f.strategy == "auto":  # the duration decides (a memoised probe)
            info = await self.media.probe(video_id)
            if resolve_strategy(f, info.duration, self.settings) == "search":
                key = self.key(f, video_id, self.resolve(f), search_options(f, self.settings))
        elif f.strategy == "search" and key is None:
            key = self.key(f, video_id, self.resolve(f), search_options(f, self.settings))
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
        if resolve_strategy(f, info.duration, self.settings) == "search":
            check_plan(search_options(f, self.settings), info, self.settings)  # 400 now
            return True  # a search is a job: its progress can be watched
        return info.duration > self.settings.sync_max_duration_s

    async def run(self, f: ReasonFields, video_id: str, request_id: str, *,
                  wait: bool = False, progress: OnProgress | None = None) -> ReasonResponse:
        """Answer without consulting the cache first (the caller did); store the result.
        `wait`: wait for an inference slot even when the queue is full (job workers).
        `progress`: told each search step (a search only)."""
        r = self.resolve(f)
        start = time.perf_counter()
        t0 = time.perf_counter()
        info = await self.media.probe(video_id)
        probe_s = time.perf_counter() - t0
        if resolve_strategy(f, info.duration, self.settings) == "search":
            return await self._search(f, r, video_id, request_id, info, probe_s,
                                      wait=wait, progress=progress)
        async with self.gate.slot(wait=wait):
            t0 = time.perf_counter()
            frames = await self.media.sample(video_id, info, r.policy)
            cues = await self.media.subtitles(video_id) if f.video_subtitles else None
            decode_s = time.perf_counter() - t0
            verdict = await self._infer(f, r, frames, cues)
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
                       resp: ReasonResponse, search: SearchOptions | None = None) -> None:
        """Store a computed response under its cache key (no-op when the cache is off)."""
        if self.settings.cache_ttl_s > 0:
            stored = resp.model_dump_json(exclude=set(PER_REQUEST_FIELDS)).encode()
            await self.cache.set(self.key(f, video_id, r, search), stored)

    async def answer(self, f: ReasonFields, video_id: str, request_id: str, *,
                     wait: bool = False, progress: OnProgress | None = None) -> ReasonResponse:
        return await self.cached(f, video_id, request_id) or await self.run(
            f, video_id, request_id, wait=wait, progress=progress)

    def options(self, f: ReasonFields, r: Resolved,
                cues: tuple[Cue, ...] | None = None) -> PipelineOptions:
        return PipelineOptions(n=r.n, voting=VotingMode(f.voting),
                               weight_mode=WeightMode(f.weight_mode), sampling=r.sampling,
                               abstain_below=f.abstain_below, return_traces=f.return_traces,
                               prompt=r.prompt, subtitles=cues if cues is not None else r.cues)

    async def answer_frames(self, f: ReasonFields, source: str,
                            load: Callable[[FramePolicy], FrameSet], request_id: str,
                            *, video_id: str | None = None) -> ReasonResponse:
        """Frames the client chose (a still image, chat image frames), cached under
        `source` (a tenant-scoped digest of their bytes): nothing to probe or search.
        `load` builds them for the resolved policy, off the event loop; `video_id` is what
        the response names (default `source`)."""
        f = f.model_copy(update={"strategy": "uniform"})  # uniform shares auto's key
        hit = await self.cached(f, source, request_id)
        if hit is not None:
            return hit
        r = self.resolve(f)
        start = time.perf_counter()
        frames = await asyncio.to_thread(load, r.policy)
        async with self.gate.slot():
            verdict = await self._infer(f, r, frames)
        timings = verdict.timings.as_dict() | {"total": time.perf_counter() - start}
        resp = verdict_response(
            verdict, frames.meta, response_id=_new_id(), request_id=request_id,
            video_id=source if video_id is None else video_id,
            random_tiny=self.model.random_tiny, timings=timings,
            with_traces=f.return_traces)
        await self.remember(f, source, r, resp)
        return resp

    async def answer_image(self, f: ReasonFields, data_url: str, request_id: str,
                           who: Principal = ANONYMOUS) -> ReasonResponse:
        """A still image: cached under the tenant's and the image's digest; the image
        prompt; `answer_box` in the image's pixels."""
        return await self.answer_frames(f, image_source_id(data_url, who.tenant),
                                        functools.partial(still_frameset, data_url),
                                        request_id)

    async def _infer(self, f: ReasonFields, r: Resolved, frames: FrameSet,
                     cues: tuple[Cue, ...] | None = None) -> Verdict:
        opts = self.options(f, r, cues)
        try:
            return await self.pipeline.run(frames, f.question, options=f.options,
                                           task=TaskType(f.task) if f.task else None, opts=opts)
        except BackendError as exc:
            self.metrics.backend_errors.labels(exc.code).inc()
            raise

    async def _search(self, f: ReasonFields, r: Resolved, video_id: str, request_id: str,
                      info: VideoInfo, probe_s: float, *, wait: bool,
                      progress: OnProgress | None) -> ReasonResponse:
        """strategy=search: scan, zoom, vote (docs/SEARCH.md); frames via the frame cache."""
        sopts = search_options(f, self.settings)
        check_plan(sopts, info, self.settings)
        fed = fit_size(*info.display_size, r.policy.min_pixels, r.policy.max_pixels)
        source = self.media.frame_source(video_id, info, fed)
        ids = {"response_id": _new_id(), "request_id": request_id, "video_id": video_id}
        async with self.gate.slot(wait=wait):
            try:
                resp = await run_search_response(
                    self.pipeline, source, f, self.options(f, r), sopts, ids=ids,
                    random_tiny=self.model.random_tiny, probe_s=probe_s, on_progress=progress)
            except BackendError as exc:
                self.metrics.backend_errors.labels(exc.code).inc()
                raise
        self.metrics.observe_stages(resp.timings)
        await self.remember(f, video_id, r, resp, sopts)
        return resp


def _new_id() -> str:
    return "rsn_" + os.urandom(16).hex()  # 128 random bits, as a uuid4 hex

