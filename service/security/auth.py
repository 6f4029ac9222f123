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

Tenants: each key belongs to a tenant (`Principal`): O3_API_KEY_TENANTS maps keys to
tenant names; any other key in O3_API_KEYS is a tenant of its own (named after a hash
of the key, never the key); O3_ADMIN_KEYS see every tenant. With auth off every
request is the one tenant `default`. The matched principal is put on the request
(`principal(request)`) and the tenant's request-rate quota is charged, before the
body is read.
"""

from __future__ import annotations

import hashlib
import hmac
import inspect
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.routing import APIRoute

from service.errors import ApiError
from service.settings import Settings

Handler = Callable[[Request], Coroutine[Any, Any, Response]]
DEFAULT_TENANT = "default"
ADMIN_TENANT = "admin"


@dataclass(frozen=True)
class Principal:
    """Who a request acts for: its tenant, and whether it may see every tenant."""

    tenant: str
    admin: bool = False


ANONYMOUS = Principal(DEFAULT_TENANT)
KeyTable = tuple[tuple[bytes, Principal], ...]


def key_table(settings: Settings) -> KeyTable:
    """Every accepted key with its principal (built once per app)."""
    mapped, admins = settings.key_tenant_map, settings.admin_key_set
    rows: list[tuple[bytes, Principal]] = []
    for key in settings.api_key_list:
        if key in admins:
            who = Principal(ADMIN_TENANT, admin=True)
        else:
            who = Principal(mapped.get(key) or
                            "key-" + hashlib.sha256(key.encode()).hexdigest()[:16])
        rows.append((key.encode(), who))
    return tuple(rows)


def match_key(presented: str, table: KeyTable) -> Principal | None:
    """The principal of `presented`; every key is compared (constant time overall)."""
    given = presented.encode()
    found: Principal | None = None
    for key, who in table:
        if hmac.compare_digest(given, key):
            found = who
    return found


def key_matches(presented: str, keys: tuple[str, ...]) -> bool:
    return match_key(presented, tuple((k.encode(), ANONYMOUS) for k in keys)) is not None


def bearer_token(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def authenticate(table: KeyTable, authorization: str | None) -> Principal:
    """The principal of the bearer token; 401 unless auth is off or the key is known."""
    if not table:
        return ANONYMOUS
    token = bearer_token(authorization)
    if token is None:
        raise ApiError(401, "missing_api_key", "send 'Authorization: Bearer <key>'",
                       headers={"WWW-Authenticate": "Bearer"})
    who = match_key(token, table)
    if who is None:
        raise ApiError(401, "invalid_api_key", "the API key is not valid",
                       headers={"WWW-Authenticate": "Bearer"})
    return who


def check_api_key(keys: tuple[str, ...], authorization: str | None) -> None:
    """Raise 401 unless auth is off or the bearer token is one of `keys`."""
    authenticate(tuple((k.encode(), ANONYMOUS) for k in keys), authorization)


def check_request(request: Request) -> Principal:
    """The app's key table against the request's header; the principal is stored on
    the request and its tenant's request quota charged. `create_app` builds the table
    once (`app.state.key_table`); else it is built from settings."""
    state = request.app.state
    table: KeyTable | None = getattr(state, "key_table", None)
    if table is None:
        table = key_table(state.settings)
    who = authenticate(table, request.headers.get("authorization"))
    request.scope.setdefault("state", {})["principal"] = who
    quotas = getattr(state, "quotas", None)
    if quotas is not None and not who.admin:
        quotas.charge_request(who.tenant)
    return who


def principal(request: Request) -> Principal:
    """The request's principal (set by `ApiKeyRoute`); the default tenant if unset."""
    who: Principal = request.scope.get("state", {}).get("principal", ANONYMOUS)
    return who


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
