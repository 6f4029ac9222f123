"""The scan: every chunk of the video shown to the model once, cheaply, and scored.

Owns `scan_chunks`. Each chunk's frames come from the `FrameSource` (a cache sits
behind it, so the zoom reuses them) and go to the model with the normal grounded
prompt (`grounding.prompt.build_prompt`: the same system prompt, labels with absolute
times, the question); its traces are parsed by the one parser and scored by
`score.chunk_score`, with the verifier's weights when verification is on.

Invariants:
- At most `concurrency` chunks are being decoded or asked at once; all of them are
  started together (a semaphore, not batches), so a slow chunk never holds the rest.
- Results come back in chunk order, whatever order they finished in.
- A `BackendError` on one chunk scores it 0 and marks it failed; when EVERY chunk
  failed the first error is raised (nothing was scanned). Any other error (e.g. a
  video that stops decoding) cancels the other chunks and is raised as itself, not
  as an exception group. Cancellation propagates.
- `on_chunk(done, total)` is called after each chunk finishes (progress).
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from service.grounding.parser import parse_trace
from service.grounding.prompt import build_prompt
from service.grounding.types import ParsedTrace, TaskType
from service.inference.backend import Backend, BackendError, SamplingParams, Usage
from service.inference.search.score import chunk_score
from service.inference.search.types import Chunk, ChunkScore, FrameSource
from service.inference.types import WeightMode
from service.inference.verifier import TraceVerification, verify
from service.video.frameset import FrameSet

OnChunk = Callable[[int, int], None]


@dataclass(frozen=True)
class ScanSpec:
    """What every chunk request shares."""

    question: str
    task: TaskType
    options: Sequence[str] | None
    samples: int
    sampling: SamplingParams
    verify: bool = False
    weight_mode: WeightMode = WeightMode.CODE
    add_duration_line: bool | None = None  # None: the protocol's rule (rl: every video)


@dataclass
class ScanResult:
    scores: list[ChunkScore]
    usage: Usage = field(default_factory=Usage)
    calls: int = 0
    frame_times: list[float] = field(default_factory=list)


async def scan_chunks(backend: Backend, source: FrameSource, chunks: Sequence[Chunk],
                      spec: ScanSpec, *, concurrency: int, on_chunk: OnChunk | None = None
                      ) -> ScanResult:
    gate = asyncio.Semaphore(max(1, concurrency))
    done = 0
    result = ScanResult([])

    async def one(chunk: Chunk) -> ChunkScore | BackendError:
        nonlocal done
        async with gate:
            try:
                frames = await source.frames(chunk.times)
                score, usage, calls = await _ask(backend, chunk, frames, spec, source.duration)
            except BackendError as exc:
                return exc
        result.usage += usage
        result.calls += calls
        result.frame_times.extend(frames.meta.times)
        done += 1
        if on_chunk is not None:
            on_chunk(done, len(chunks))
        return score

    try:
        async with asyncio.TaskGroup() as tg:  # one failure (not a BackendError) stops all
            tasks = [tg.create_task(one(c)) for c in chunks]
    except BaseExceptionGroup as group:
        raise group.exceptions[0] from None  # the caller maps the error itself
    outs = [t.result() for t in tasks]
    errors = [o for o in outs if isinstance(o, BackendError)]
    if chunks and len(errors) == len(chunks):
        raise errors[0]
    result.scores = [o if isinstance(o, ChunkScore) else ChunkScore(c.start, c.end, 0.0,
                                                                    failed=True)
                     for c, o in zip(chunks, outs, strict=True)]
    return result


async def _ask(backend: Backend, chunk: Chunk, frames: FrameSet, spec: ScanSpec,
               duration: float) -> tuple[ChunkScore, Usage, int]:
    prompt = build_prompt(spec.question, frames.meta.times, task=spec.task,
                          options=spec.options, duration=duration,
                          add_duration_line=spec.add_duration_line)
    sample = await backend.sample(prompt, frames.frames, spec.samples, spec.sampling)
    parsed = [_parse(c.text, spec, frames, duration) for c in sample.completions]
    usage, calls, weights = sample.usage, 1, None
    if spec.verify:
        checks = await verify(backend, frames, spec.question, parsed, mode=spec.weight_mode)
        weights = [relevance(c) for c in checks]
        usage += sum((c.usage for c in checks), Usage())
        calls += sum(c.calls for c in checks)
    score, cited = chunk_score(chunk.start, chunk.end, parsed, weights)
    return ChunkScore(chunk.start, chunk.end, score, cited, len(frames.frames)), usage, calls


def relevance(check: TraceVerification) -> float:
    """The verifier's 0/1/2 score as a relevance in [0, 1]; unreadable -> 0.5."""
    return 0.5 if check.score is None else check.score / 2


def _parse(text: str, spec: ScanSpec, frames: FrameSet, duration: float) -> ParsedTrace:
    n_options = len(spec.options) if spec.options else None
    return parse_trace(text, task=spec.task, fed_size=frames.meta.fed_size,
                       duration=duration or None, n_options=n_options)
