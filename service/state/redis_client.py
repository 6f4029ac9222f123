"""The one place that builds the async Redis client (bytes in, bytes out).

Invariant: a command is retried only after a *connection* error, never after a read
timeout. After a timeout the server may well have executed the command, and the job
queue's stream commands are not idempotent: a retried XAUTOCLAIM counts one more
delivery (a live job can then be failed as abandoned), a retried XREADGROUP hands out
an entry whose reply was lost. redis-py's default retries timeouts too, so it is
replaced here.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

if TYPE_CHECKING:
    Redis = aioredis.Redis[bytes]
else:
    Redis = aioredis.Redis


def connect(url: str, *, timeout_s: float = 2.0) -> Redis:
    """A client with short timeouts: a dead Redis must fail fast, not hang requests."""
    return aioredis.Redis.from_url(
        url, socket_timeout=timeout_s, socket_connect_timeout=timeout_s,
        health_check_interval=10,
        retry=Retry(ExponentialBackoff(cap=0.5, base=0.05), 2,
                    supported_errors=(RedisConnectionError,)),
    )
