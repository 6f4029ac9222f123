"""The result cache: finished `/v1/reason` responses keyed by everything that shapes them.

`cache_key(parts)` hashes a canonical JSON of the video sha256, question, options,
task, every sampling/voting/frame parameter and the model id + revision, so two
requests share an entry only when they would get the same computation.

Two implementations of one small interface (`get`, `set`, `close`):
- `MemoryCache`: in-process, bounded LRU with TTL (the default without Redis).
- `RedisCache`: `SET key value EX ttl`. A Redis failure never fails a request: the
  lookup returns None (answered without the cache) and `o3_cache_errors_total` counts it.
  After a failure the cache is skipped for `BREAK_S` (`op="skip"` in the metric): a
  Redis that hangs instead of refusing (a network partition: every call waits for the
  socket timeout) costs one request that timeout per `BREAK_S`, not every request.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections import OrderedDict
from typing import Any, Protocol

from redis.exceptions import RedisError

from service.observability.metrics import Metrics
from service.state.redis_client import Redis

log = logging.getLogger("service.cache")
KEY_PREFIX = "o3:result:"
BREAK_S = 2.0  # after a Redis failure, the cache is not asked for this long


def cache_key(parts: dict[str, Any]) -> str:
    canonical = json.dumps(parts, sort_keys=True, separators=(",", ":"), default=str)
    return KEY_PREFIX + hashlib.sha256(canonical.encode()).hexdigest()


class ResultCache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def set(self, key: str, value: bytes) -> None: ...

    async def close(self) -> None: ...


class MemoryCache:
    def __init__(self, ttl_s: int, max_items: int = 1024) -> None:
        self._ttl = ttl_s
        self._max = max_items
        self._items: OrderedDict[str, tuple[float, bytes]] = OrderedDict()

    async def get(self, key: str) -> bytes | None:
        item = self._items.get(key)
        if item is None or item[0] < time.monotonic():
            self._items.pop(key, None)
            return None
        self._items.move_to_end(key)
        return item[1]

    async def set(self, key: str, value: bytes) -> None:
        if self._ttl <= 0:
            return
        self._items[key] = (time.monotonic() + self._ttl, value)
        self._items.move_to_end(key)
        while len(self._items) > self._max:
            self._items.popitem(last=False)

    async def close(self) -> None:
        self._items.clear()


class RedisCache:
    def __init__(self, client: Redis, ttl_s: int, metrics: Metrics,
                 break_s: float = BREAK_S) -> None:
        self._client = client
        self._ttl = ttl_s
        self._metrics = metrics
        self._break_s = break_s
        self._skip_until = 0.0

    def _broken(self) -> bool:
        if self._skip_until and time.monotonic() < self._skip_until:
            self._metrics.cache_errors.labels("skip").inc()
            return True
        return False

    async def get(self, key: str) -> bytes | None:
        if self._broken():
            return None
        try:
            value: bytes | None = await self._client.get(key)
            return value
        except (RedisError, OSError) as exc:
            self._failed("get", exc)
            return None

    async def set(self, key: str, value: bytes) -> None:
        if self._ttl <= 0 or self._broken():
            return
        try:
            await self._client.set(key, value, ex=self._ttl)
        except (RedisError, OSError) as exc:
            self._failed("set", exc)

    async def close(self) -> None:
        return None  # the client is owned (and closed) by the app's lifespan

    def _failed(self, op: str, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + self._break_s
        self._metrics.cache_errors.labels(op).inc()
        log.warning("result cache %s failed (answering without the cache): %s", op, exc)
