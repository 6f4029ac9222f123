"""Bearer API keys on `/v1` routes, compared in constant time.

With no keys configured auth is off (the app logs a loud warning at start). Every
configured key is compared (no early exit), so timing does not reveal which one matched.
"""

from __future__ import annotations

import hmac

from fastapi import Request

from service.api.errors import ApiError


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


async def require_api_key(request: Request) -> None:
    """FastAPI dependency for `/v1` routers."""
    keys: tuple[str, ...] = request.app.state.settings.api_key_list
    check_api_key(keys, request.headers.get("authorization"))
