"""The harness's seam to the gateway: upload a video once, ask `/v1/reason`.

`ReasonTarget` is the small interface the runners call; `GatewayTarget` implements
it over the project's SDK (`clients.sdk.AsyncClient`), so every request goes through
the same retries, error tree and wire models as any other client. Tests pass an
`AsyncClient` built on an in-process transport; the CLI builds one from `--base-url`.

Invariants:
- A video file is uploaded at most once per run (ids cached per resolved path, one
  upload in flight per path). The gateway is content-addressed, so a resumed run that
  re-uploads gets the same id back.
- Request options are sent explicitly (sampling, frames, n, voting): a benchmark run
  must not depend on the server's defaults.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from clients.sdk import AsyncClient, ReasonResult


@dataclass(frozen=True)
class RequestOptions:
    """What every reason request of one benchmark run sends besides the question."""

    n: int = 1
    voting: str = "single"
    temperature: float = 0.0
    top_p: float = 1.0
    max_tokens: int | None = None
    seed: int | None = None
    num_frames: int | None = None
    fps: float | None = None
    max_pixels: int | None = None
    repetition_penalty: float | None = None
    grid: str | None = None      # "vstar-release": the V-STAR script's frame choice
    protocol: str | None = None  # the server's prompt protocol (None: its default, rl)

    def sampling(self) -> dict[str, Any]:
        out: dict[str, Any] = {"temperature": self.temperature, "top_p": self.top_p}
        if self.repetition_penalty is not None:
            out["repetition_penalty"] = self.repetition_penalty
        if self.max_tokens is not None:
            out["max_tokens"] = self.max_tokens
        if self.seed is not None:
            out["seed"] = self.seed
        return out

    def frames(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in ("num_frames", "fps", "max_pixels", "grid"):
            value = getattr(self, name)
            if value is not None:
                out[name] = value
        return out


class ReasonTarget(Protocol):
    async def video_id(self, path: Path) -> str: ...

    async def reason(
        self,
        video_id: str,
        question: str,
        *,
        task: str,
        opts: RequestOptions,
        options: list[str] | None = None,
        return_traces: bool = False,
        prompt: dict[str, Any] | None = None,
    ) -> ReasonResult: ...


@dataclass
class GatewayTarget:
    """`ReasonTarget` over the SDK's `AsyncClient` (the caller owns the client)."""

    client: AsyncClient
    _ids: dict[Path, str] = field(default_factory=dict)
    _locks: dict[Path, asyncio.Lock] = field(default_factory=dict)

    async def video_id(self, path: Path) -> str:
        key = path.resolve()
        lock = self._locks.setdefault(key, asyncio.Lock())
        async with lock:
            if key not in self._ids:
                self._ids[key] = (await self.client.upload_video(key)).id
            return self._ids[key]

    async def reason(
        self,
        video_id: str,
        question: str,
        *,
        task: str,
        opts: RequestOptions,
        options: list[str] | None = None,
        return_traces: bool = False,
        prompt: dict[str, Any] | None = None,
    ) -> ReasonResult:
        """`prompt`: protocol and overrides of this request; `opts.protocol` is the
        run's protocol where the request names none."""
        fields = ({"protocol": opts.protocol} if opts.protocol else {}) | (prompt or {})
        return await self.client.reason(
            video_id,
            question,
            options=options,
            task=task,
            n=opts.n,
            voting=opts.voting,
            sampling=opts.sampling(),
            frames=opts.frames() or None,
            return_traces=return_traces,
            prompt=fields or None,
        )
