"""Bearer API keys on `/v1` routes, compared in constant time.

With no keys configured auth is off (the app logs a loud warning at start). Every
configured key is compared (no early exit), so timing does not reveal which one matched.

How it is enforced: every `/v1` router is built with `route_class=ApiKeyRoute`, whose
handler checks the key as a plain call before the endpoint runs (FastAPI's documented
custom-route hook). Routing is unchanged: the route is matched first (an unknown path
is 404, a wrong method 405, metrics are labelled by the route template), then the key
is checked, before any body is read. It replaces a router-level `Depends`, which cost
a second pass of FastAPI's dependency solver on every request. `require_authed`
refuses (at app build time) a `/v1` router with a route that would skip the check.
"""

from __future__ import annotations

import hmac
import inspect
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from service.errors import ApiError

Handler = Callable[[Request], Coroutine[Any, Any, Response]]


def key_matches(presented: str, keys: tuple[str, ...]) -> bool:
    given = presented.encode()
    found = False
    for key in keys:
        found |= hmac.compare_digest(given, key.encode())
    return found


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def check_api_key(keys: tuple[str, ...], authorization: str | None) -> None:
    """Raise 401 unless auth is off or the bearer token is one of `keys`."""
    if not keys:
        return
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(401, "missing_api_key", "send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": "Bearer"})
    if not key_matches(token, keys):
        raise ApiError(401, "invalid_api_key", "the API key is not valid",
                       headers={"WWW-Authenticate": "Bearer"})


def check_request(request: Request) -> None:
    """The app's configured keys against the request's header. `create_app` puts the
    parsed keys on `app.state.api_keys` once (else they are read from settings)."""
    state = request.app.state
    keys: tuple[str, ...] | None = getattr(state, "api_keys", None)
    if keys is None:
        keys = state.settings.api_key_list
    check_api_key(keys, request.headers.get("authorization"))


class ApiKeyRoute(APIRoute):
    """An APIRoute whose handler checks the API key before the endpoint runs.

    An endpoint declared `async def f(request: Request) -> Response` (the hot
    `/v1/reason`) is called directly: FastAPI's generic handler would solve its
    (empty) dependencies, parse query parameters and check the return value on every
    request for nothing (~20 us of ~100 in the cached path's profile). Other
    endpoints keep FastAPI's handler."""

    def get_route_handler(self) -> Handler:
        endpoint = self.endpoint
        handler = direct_handler(endpoint) if takes_only_request(endpoint) else (
            super().get_route_handler())

        async def checked(request: Request) -> Response:
            check_request(request)
            return await handler(request)

        return checked


def takes_only_request(endpoint: Callable[..., Any]) -> bool:
    """True for `async def f(request: Request) -> Response` (or a Response subclass):
    nothing for FastAPI to inject, nothing for it to serialize."""
    if not inspect.iscoroutinefunction(endpoint):
        return False
    sig = inspect.signature(endpoint, eval_str=True)
    params = list(sig.parameters.values())
    returns = sig.return_annotation
    return (len(params) == 1 and params[0].annotation is Request
            and isinstance(returns, type) and issubclass(returns, Response))


def direct_handler(endpoint: Callable[[Request], Coroutine[Any, Any, Any]]) -> Handler:
    async def handler(request: Request) -> Response:
        response = await endpoint(request)
        if not isinstance(response, Response):  # a direct endpoint must build its own
            raise TypeError(f"{endpoint.__qualname__} returned {type(response).__name__}, "
                            "not a Response")
        return response

    return handler


def require_authed(router: APIRouter) -> APIRouter:
    """`router`, after checking that every route on it checks the key (else RuntimeError:
    a `/v1` route added without `route_class=ApiKeyRoute` must not go out open)."""
    open_routes = [getattr(r, "path", repr(r)) for r in router.routes
                   if not isinstance(r, ApiKeyRoute)]
    if open_routes:
        raise RuntimeError(f"routes without the API-key check: {open_routes}; build the "
                           "router with route_class=ApiKeyRoute")
    return router
