"""The one place that builds the async Redis client (bytes in, bytes out)."""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis.asyncio as aioredis

if TYPE_CHECKING:
    Redis = aioredis.Redis[bytes]
else:
    Redis = aioredis.Redis


def connect(url: str, *, timeout_s: float = 2.0) -> Redis:
    """A client with short timeouts: a dead Redis must fail fast, not hang requests."""
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        health_check_interval=10,
    )
