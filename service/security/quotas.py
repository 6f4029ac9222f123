"""Per-tenant quotas: requests per minute and inferences at once (stored bytes are
checked by the video store, which knows the sizes).

Owns `TenantQuotas`. Invariants:
- Request rate: a token bucket per tenant holding at most O3_TENANT_RPM tokens,
  refilled at RPM/60 per second; a request without a token gets 429
  `tenant_rate_limited` with Retry-After (seconds until the next token), at once.
- Inferences: at most O3_TENANT_MAX_CONCURRENCY of one tenant run at once. A
  synchronous request over it gets 429 `tenant_concurrency_limit` at once; a job
  (`wait=True`) waits for its tenant's turn instead (a job has no client to tell).
- 0 switches a quota off. The counts are per gateway process (one event loop: no
  locks); with several replicas each enforces its own share.
- Admin principals are not charged (the routers skip them).
- Every refusal counts in `o3_rejected_requests_total{reason=tenant_rate|tenant_concurrency}`.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from service.errors import ApiError
from service.observability.metrics import Metrics

MAX_TENANTS_TRACKED = 100_000  # buckets of idle tenants are dropped beyond this


class TenantQuotas:
    def __init__(self, rpm: int, max_concurrency: int, metrics: Metrics | None = None) -> None:
        self.rpm = rpm
        self.max_concurrency = max_concurrency
        self.metrics = metrics
        self._buckets: dict[str, tuple[float, float]] = {}  # tenant -> (tokens, at)
        self._running: dict[str, int] = {}
        self._freed: dict[str, asyncio.Condition] = {}

    def charge_request(self, tenant: str) -> None:
        """Take one request token of `tenant` or raise 429."""
        if self.rpm <= 0:
            return
        now = time.monotonic()
        rate = self.rpm / 60.0
        tokens, at = self._buckets.get(tenant, (float(self.rpm), now))
        tokens = min(float(self.rpm), tokens + (now - at) * rate)
        if tokens < 1.0:
            self._buckets[tenant] = (tokens, now)
            wait = max(1, math.ceil((1.0 - tokens) / rate))
            self._count("tenant_rate")
            raise ApiError(429, "tenant_rate_limited",
                           f"this tenant's request rate is limited to {self.rpm} per minute "
                           "(O3_TENANT_RPM); retry later", headers={"Retry-After": str(wait)})
        if len(self._buckets) >= MAX_TENANTS_TRACKED and tenant not in self._buckets:
            self._buckets.clear()  # a flood of tenants: forget (refills everyone) -> bounded
        self._buckets[tenant] = (tokens - 1.0, now)

    def _count(self, reason: str) -> None:
        if self.metrics is not None:
            self.metrics.rejected.labels(reason).inc()

    def running(self, tenant: str) -> int:
        return self._running.get(tenant, 0)

    @asynccontextmanager
    async def inference(self, tenant: str, *, wait: bool = False,
                        exempt: bool = False) -> AsyncIterator[None]:
        """Hold one of `tenant`'s inference slots for the block."""
        if self.max_concurrency <= 0 or exempt:
            yield
            return
        if self.running(tenant) >= self.max_concurrency:
            if not wait:
                self._count("tenant_concurrency")
                raise ApiError(429, "tenant_concurrency_limit",
                               f"this tenant already runs {self.max_concurrency} inferences "
                               "(O3_TENANT_MAX_CONCURRENCY); retry later",
                               headers={"Retry-After": "1"})
            cond = self._freed.setdefault(tenant, asyncio.Condition())
            async with cond:
                await cond.wait_for(lambda: self.running(tenant) < self.max_concurrency)
        self._running[tenant] = self.running(tenant) + 1
        try:
            yield
        finally:
            left = self.running(tenant) - 1
            if left:
                self._running[tenant] = left
            else:
                self._running.pop(tenant, None)
            await self._notify(tenant)

    async def _notify(self, tenant: str) -> None:
        cond = self._freed.get(tenant)
        if cond is not None:
            async with cond:
                cond.notify(1)
