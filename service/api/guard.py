"""Run a request's work under its deadline, cancelled when the client goes away.

Starlette does not cancel a handler when the client disconnects; vLLM's entrypoint
watches the ASGI `receive` channel for `http.disconnect` and cancels the work, and so
do we: cancelling the pipeline task cancels the backend call, whose HTTP request to
vLLM is closed, so vLLM aborts the generation. Deadline -> 504.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Coroutine
from typing import Any, TypeVar

from starlette.requests import Request

from service.errors import ApiError

T = TypeVar("T")


async def _disconnected(request: Request) -> None:
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


async def guarded(request: Request, work: Coroutine[Any, Any, T], timeout_s: float) -> T:
    task: asyncio.Task[T] = asyncio.ensure_future(work)
    watch = asyncio.ensure_future(_disconnected(request))
    try:
        done, _ = await asyncio.wait({task, watch}, timeout=timeout_s,
                                     return_when=asyncio.FIRST_COMPLETED)
        if task in done:
            return task.result()
        if watch in done:
            raise ApiError(499, "client_disconnected", "the client closed the connection")
        raise ApiError(504, "deadline_exceeded",
                       f"the request did not finish within {timeout_s:g} s "
                       "(O3_REQUEST_TIMEOUT_S); retry with async=true for long work")
    finally:
        for t in (task, watch):
            t.cancel()
        for t in (task, watch):
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await t
