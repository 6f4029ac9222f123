"""Prometheus metrics of the gateway, correct with several uvicorn workers.

`Metrics(registry)` registers every metric on the given registry (tests build their
own, so several apps can live in one process). When `PROMETHEUS_MULTIPROC_DIR` is set
(`python -m service` sets it when workers > 1) prometheus-client writes values to
per-process files and `render()` aggregates them with `MultiProcessCollector`; gauges
use `livesum` so dead workers drop out.

Names (all prefixed `o3_`): http_requests_total, http_request_duration_seconds,
stage_duration_seconds, inference_queue_depth, inference_in_flight, cache_requests_total,
cache_errors_total, backend_errors_total, rejected_requests_total, jobs_total.
"""

from __future__ import annotations

import os
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)
from prometheus_client.multiprocess import MultiProcessCollector

LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300)
STAGES = ("probe", "decode", "backend", "parse", "verify", "vote",
          "scan", "zoom")  # the last two: a search (docs/SEARCH.md)
MAX_MEMO_CHILDREN = 4096  # label sets remembered by `child` (route x method x status)


def multiprocess_dir() -> str | None:
    return os.environ.get("PROMETHEUS_MULTIPROC_DIR") or None


class Metrics:
    """The gateway's metric objects, registered on one registry."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.requests = Counter("o3_http_requests_total", "HTTP requests by route template",
                                ["route", "method", "status"], registry=r)
        self.latency = Histogram("o3_http_request_duration_seconds",
                                 "HTTP request latency by route template",
                                 ["route", "method"], buckets=LATENCY_BUCKETS, registry=r)
        self.stage = Histogram("o3_stage_duration_seconds", "pipeline stage timings",
                               ["stage"], buckets=LATENCY_BUCKETS, registry=r)
        self.queue_depth = Gauge("o3_inference_queue_depth", "inferences waiting for a slot",
                                 registry=r, multiprocess_mode="livesum")
        self.in_flight = Gauge("o3_inference_in_flight", "inferences running",
                               registry=r, multiprocess_mode="livesum")
        self.cache = Counter("o3_cache_requests_total", "result cache lookups",
                             ["result"], registry=r)
        self.cache_errors = Counter("o3_cache_errors_total",
                                    "cache operations that failed (Redis down): answered "
                                    "without the cache", ["op"], registry=r)
        self.backend_errors = Counter("o3_backend_errors_total", "backend errors by kind",
                                      ["kind"], registry=r)
        self.rejected = Counter("o3_rejected_requests_total", "requests refused at admission",
                                ["reason"], registry=r)
        self.jobs = Counter("o3_jobs_total", "jobs by final status", ["status"], registry=r)
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}

    def child(self, metric: Any, *values: str) -> Any:
        """`metric.labels(*values)`, remembered: `labels()` validates and takes a lock
        on every call, and the per-request metrics hit the same few label sets."""
        key = (id(metric), values)
        found = self._children.get(key)
        if found is None:
            found = metric.labels(*values)
            if len(self._children) < MAX_MEMO_CHILDREN:
                self._children[key] = found
        return found

    def observe_stages(self, timings: dict[str, float]) -> None:
        for stage in STAGES:
            if timings.get(stage):
                self.stage.labels(stage).observe(timings[stage])

    def render(self) -> bytes:
        if multiprocess_dir():
            registry = CollectorRegistry()
            MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
            return generate_latest(registry)
        return generate_latest(self.registry)
