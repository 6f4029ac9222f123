"""The hot routes: a few exact (method, path) routes served without FastAPI's router.

Owns `HotRoutes`, the innermost user middleware: inside the request-context middleware
and CORS (so request ids, metrics, logging and CORS headers still wrap every request).
For a request whose method and path are exactly those of a hot route (`POST
/v1/reason`) it calls that route's own handler (`ApiKeyRoute`: the API-key check, then
the endpoint) and maps an exception with the app's own exception handlers; everything
else goes on to FastAPI untouched.

Why: a cached `/v1/reason` spent more than half of its CPU in FastAPI's routing
(nested included routers, route contexts) and per-route wrappers (two exit stacks,
exception middleware, dependency solving) before and around our code; the profile is
in bench/README.md.

Invariants:
- Same answers as the routed path: status, body, headers, error shape and the
  route template in metrics (`scope["route"]` is the real `APIRoute`); a test runs
  the same requests through both.
- Only routes whose endpoint FastAPI would not inject anything into are eligible
  (`takes_only_request`: `async def f(request: Request) -> Response`); any other
  method on a hot path (GET /v1/reason -> 405) and every other path go to FastAPI.
- Exceptions are answered by the handler FastAPI would pick (the app's
  `exception_handlers`, looked up along the exception's class hierarchy).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Receive, Scope, Send

from service.security.auth import ApiKeyRoute, takes_only_request

ExceptionHandler = Callable[[Request, Exception], Awaitable[Response]]


def hot_routes(routers: Iterable[APIRouter], paths: Iterable[str]
               ) -> dict[tuple[str, str], APIRoute]:
    """The eligible `ApiKeyRoute`s of `routers` at `paths`, keyed by (method, path)."""
    wanted = set(paths)
    out: dict[tuple[str, str], APIRoute] = {}
    for router in routers:
        for route in router.routes:
            if (isinstance(route, ApiKeyRoute) and route.path in wanted
                    and takes_only_request(route.endpoint)):
                out.update({(method, route.path): route for method in route.methods or ()})
    return out


class HotRoutes:
    """Pure ASGI: exact-match hot routes straight to their handlers; the rest to `app`."""

    def __init__(self, app: ASGIApp, fastapi_app: FastAPI,
                 routes: dict[tuple[str, str], APIRoute]) -> None:
        self.app = app
        self.fastapi_app = fastapi_app
        self.routes = routes
        self.handlers = {key: route.get_route_handler() for key, route in routes.items()}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        key = (scope.get("method", ""), scope.get("path", ""))
        route = self.routes.get(key) if scope["type"] == "http" else None
        if route is None:
            await self.app(scope, receive, send)
            return
        scope["route"] = route
        scope["endpoint"] = route.endpoint
        scope.setdefault("path_params", {})
        request = Request(scope, receive, send)
        try:
            response = await self.handlers[key](request)
        except Exception as exc:
            response = await self._answer(request, exc)
        await response(scope, receive, send)

    async def _answer(self, request: Request, exc: Exception) -> Response:
        handlers: dict[Any, ExceptionHandler] = self.fastapi_app.exception_handlers  # type: ignore[assignment]
        for cls in type(exc).__mro__:
            handler = handlers.get(cls)
            if handler is not None:
                return await handler(request, exc)
        raise exc
