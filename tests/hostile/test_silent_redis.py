"""A Redis that hangs instead of refusing (a partition: connections accepted, nothing
answered) must not slow every request by the socket timeout: after one failure the
result cache is skipped for a while (`RedisCache`'s breaker)."""

from __future__ import annotations

import asyncio
import time

from service.observability.metrics import Metrics
from service.state.cache import RedisCache
from service.state.redis_client import connect


async def test_a_hanging_redis_costs_one_timeout_then_is_skipped() -> None:
    held: list[asyncio.StreamWriter] = []

    async def accept_and_hang(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)  # never answers

    server = await asyncio.start_server(accept_and_hang, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    client = connect(f"redis://127.0.0.1:{port}/0", timeout_s=0.3)
    metrics = Metrics()
    cache = RedisCache(client, ttl_s=60, metrics=metrics, break_s=1.0)
    try:
        start = time.monotonic()
        assert await cache.get("k") is None
        first = time.monotonic() - start
        start = time.monotonic()
        for _ in range(20):  # within the break: no Redis call at all
            assert await cache.get("k") is None
            await cache.set("k", b"v")
        skipped = time.monotonic() - start
        assert first >= 0.25 and skipped < 0.2, (first, skipped)
        assert 'o3_cache_errors_total{op="skip"} 40.0' in metrics.render().decode()
        await asyncio.sleep(1.1)  # the break is over: Redis is asked again (and fails)
        start = time.monotonic()
        assert await cache.get("k") is None
        assert time.monotonic() - start >= 0.25
    finally:
        await client.aclose()
        for w in held:
            w.close()
        server.close()
