"""The one place that builds the async Redis client (bytes in, bytes out).

Invariant: a command is retried only after a *connection* error, never after a read
timeout. After a timeout the server may well have executed the command, and the job
queue's stream commands are not idempotent: a retried XAUTOCLAIM counts one more
delivery (a live job can then be failed as abandoned), a retried XREADGROUP hands out
an entry whose reply was lost. redis-py's default retries timeouts too, so it is
replaced here.

`StateUnavailable` (503 `state_unavailable`, Retry-After) is what a request gets when
Redis cannot be reached: `unavailable_on_error()` turns redis-py's errors into it, so
an outage is a documented 503, not a 500, and the next request after Redis is back
simply works (redis-py reconnects on its own).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING, ClassVar

import redis.asyncio as aioredis
from redis.asyncio.retry import Retry
from redis.backoff import ExponentialBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError

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


class StateUnavailable(Exception):
    """Redis (jobs, cache) cannot be reached: 503 with Retry-After."""

    status: ClassVar[int] = 503
    code: ClassVar[str] = "state_unavailable"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.headers = {"Retry-After": "1"}


@contextmanager
def unavailable_on_error(what: str) -> Iterator[None]:
    """Re-raise Redis and socket errors inside the block as `StateUnavailable`."""
    try:
        yield
    except (RedisError, OSError) as exc:
        raise StateUnavailable(f"{what}: the state store (Redis) is unavailable; "
                               "retry later") from exc
