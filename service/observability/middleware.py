"""Pure ASGI middleware: request id on every response and log line, plus HTTP metrics.

Invariants: every HTTP response carries `X-Request-ID` (the client's, when it sent a
sane one, else a fresh hex id); the id is in `request_id_var` for the whole request,
so log lines carry it; requests are counted under their route TEMPLATE
(`/v1/videos/{video_id}`), never the raw path, so label cardinality stays bounded.
Written as raw ASGI (not BaseHTTPMiddleware) to keep per-request overhead small.
"""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.observability.context import request_id_var
from service.observability.metrics import Metrics

log = logging.getLogger("service.access")
_SANE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")


def _incoming_id(scope: Scope) -> str:
    for name, value in scope.get("headers", ()):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _SANE_ID.match(text):
                return text
    return os.urandom(16).hex()  # 128 random bits, as uuid4 (which is 4x slower)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")
    path: object = getattr(route, "path", None)
    return path if isinstance(path, str) else "unmatched"


class RequestContextMiddleware:
    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        rid = _incoming_id(scope)
        token = request_id_var.set(rid)
        scope.setdefault("state", {})["request_id"] = rid
        status = 500
        start = time.perf_counter()

        async def send_with_id(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", rid.encode("latin-1")))
                message["headers"] = headers
            await send(message)

        try:
            await self.app(scope, receive, send_with_id)
        finally:
            self._record(scope, status, time.perf_counter() - start)
            request_id_var.reset(token)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route, method, m = _route_template(scope), scope.get("method", "GET"), self.metrics
        m.child(m.requests, route, method, str(status)).inc()
        m.child(m.latency, route, method).observe(seconds)
        log.info("%s %s %s %.1fms", method, scope.get("path", ""), status, seconds * 1000)
