"""Prometheus + Grafana config against what is actually deployed and exported.

- `gateway_metrics()`: the gateway's metrics, read from the code: every prometheus-client
  metric a `service.observability.metrics.Metrics` instance registers (name, type,
  label names). A renamed metric changes this, and the dashboard check fails.
- `vllm_metrics()`: vLLM's metrics at the pinned version, from the vendored list.
- `series(name, type)`: the series names prometheus-client exposes for a metric
  (counter: `_total`/`_created`; histogram: `_bucket`/`_sum`/`_count`; gauge: itself).
- `promql_metrics(expr)` / `promql_labels(expr)`: metric and label names a query uses.
- `dashboard_problems`, `prometheus_problems`, `grafana_problems`: one message per break.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

from prometheus_client import CollectorRegistry
from prometheus_client.metrics import MetricWrapperBase

from tests.unit.deploy.loaders import SCHEMAS
from tests.unit.deploy.vllm_args import flag_value

PROMQL_WORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and",
                "or", "unless", "offset", "inf", "nan"}
ALWAYS_LABELS = {"le", "job", "instance"}
# what the dashboard must show (issue 5): one series per topic
REQUIRED_SERIES = {
    "o3_http_requests_total": "request rate by route",
    "o3_http_request_duration_seconds_bucket": "latency by route",
    "o3_stage_duration_seconds_bucket": "stage timings",
    "o3_inference_queue_depth": "queue depth",
    "o3_cache_requests_total": "cache hit rate",
    "vllm:time_to_first_token_seconds_bucket": "vLLM time to first token",
    "vllm:num_requests_running": "running requests",
    "vllm:num_requests_waiting": "waiting requests",
    "vllm:kv_cache_usage_perc": "KV-cache usage",
}


@dataclass(frozen=True)
class Metric:
    name: str
    type: str
    labels: frozenset[str] | None  # None = unknown (vLLM)


def gateway_metrics() -> list[Metric]:
    from service.observability.metrics import Metrics
    found = [m for m in vars(Metrics(CollectorRegistry())).values()
             if isinstance(m, MetricWrapperBase)]
    return [Metric(m._name, m._type, frozenset(m._labelnames)) for m in found]


def vllm_metrics() -> list[Metric]:
    data = json.loads((SCHEMAS / "vllm_metrics.json").read_text())
    return [Metric(name, kind, None) for name, kind in data["metrics"].items()]


def series(metric: Metric) -> set[str]:
    base = metric.name.removesuffix("_total") if metric.type == "counter" else metric.name
    return {"counter": {f"{base}_total", f"{base}_created"},
            "histogram": {f"{base}_bucket", f"{base}_sum", f"{base}_count"},
            "summary": {base, f"{base}_sum", f"{base}_count"}}.get(metric.type, {base})


def exported(metrics: list[Metric]) -> dict[str, Metric]:
    return {name: m for m in metrics for name in series(m)}


def _strip(expr: str) -> str:
    expr = re.sub(r'"(?:[^"\\]|\\.)*"', '""', expr)
    expr = re.sub(r"\{[^}]*\}|\[[^\]]*\]", " ", expr)
    return re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", expr)


def promql_metrics(expr: str) -> set[str]:
    """Metric names in a PromQL expression (not functions, keywords, labels, numbers)."""
    names = set()
    for m in re.finditer(r"[A-Za-z_:][A-Za-z0-9_:]*", _strip(expr)):
        following = _strip(expr)[m.end():].lstrip()[:1]
        if following != "(" and m.group().lower() not in PROMQL_WORDS:
            names.add(m.group())
    return names


def promql_labels(expr: str) -> set[str]:
    grouped = re.findall(r"\b(?:by|without)\s*\(([^)]*)\)", expr)
    matched = re.findall(r"([A-Za-z_]\w*)\s*(?:=~|!~|!=|=)", " ".join(re.findall(r"\{[^}]*\}",
                                                                                     expr)))
    return {w.strip() for g in grouped for w in g.split(",") if w.strip()} | set(matched)


def _expr_problems(expr: str, known: dict[str, Metric]) -> list[str]:
    names = promql_metrics(expr)
    problems = [f"{n} is exported by neither the gateway nor vLLM ({expr})"
                for n in sorted(names - set(known))]
    metrics = [known[n] for n in names if n in known]
    if metrics and all(m.labels is not None for m in metrics):
        allowed = set().union(*(m.labels or set() for m in metrics)) | ALWAYS_LABELS
        problems += [f"label {lab!r} is not on {sorted(names)} ({expr})"
                     for lab in sorted(promql_labels(expr) - allowed)]
    return problems


def dashboard_problems(dashboard: dict[str, Any], known: dict[str, Metric],
                       datasource_uid: str) -> list[str]:
    problems, seen = [], set()
    for panel in dashboard.get("panels", []):
        for target in panel.get("targets", []):
            if target.get("datasource", {}).get("uid") != datasource_uid:
                problems.append(f"panel {panel['title']!r}: datasource is not {datasource_uid}")
            problems += _expr_problems(target["expr"], known)
            seen |= promql_metrics(target["expr"])
    problems += [f"no panel shows {topic} ({name})"
                 for name, topic in REQUIRED_SERIES.items() if name not in seen]
    return problems


def listen_ports(compose: dict[str, Any]) -> dict[str, int]:
    """The port each scraped compose service listens on inside the network."""
    services = compose["services"]
    vllm_args = [str(a) for a in services["vllm"]["command"]]
    return {"gateway": int(services["gateway"]["environment"]["O3_PORT"]),
            "vllm": int(flag_value(vllm_args, "--port") or 8000),
            "prometheus": 9090}


def prometheus_problems(config: dict[str, Any], compose: dict[str, Any]) -> list[str]:
    ports, problems, jobs = listen_ports(compose), [], set()
    for job in config.get("scrape_configs", []):
        jobs.add(job["job_name"])
        for target in (t for sc in job.get("static_configs", []) for t in sc["targets"]):
            host, _, port = target.partition(":")
            if host not in compose["services"]:
                problems.append(f"job {job['job_name']}: {host} is not a compose service")
            elif int(port or 80) != ports.get(host):
                problems.append(f"job {job['job_name']}: {host} listens on {ports.get(host)}, "
                                f"not {port}")
    return problems + [f"no scrape job for {j}" for j in ("gateway", "vllm") if j not in jobs]


def _mount_target(service: dict[str, Any], source: str) -> str | None:
    for volume in service.get("volumes", []):
        parts = str(volume).split(":")
        if parts[0].rstrip("/") == source:
            return parts[1]
    return None


def grafana_problems(datasources: dict[str, Any], provider: dict[str, Any],
                     compose: dict[str, Any]) -> list[str]:
    problems = []
    url = re.match(r"https?://([^:/]+):(\d+)", datasources["datasources"][0]["url"])
    if not url or (url.group(1), int(url.group(2))) != ("prometheus", listen_ports(compose)
                                                         ["prometheus"]):
        problems.append("Grafana datasource does not point at the compose Prometheus")
    grafana = compose["services"]["grafana"]
    path = provider["providers"][0]["options"]["path"]
    if _mount_target(grafana, "./deploy/grafana/dashboards") != path:
        problems.append(f"dashboard provider reads {path}, where the dashboards are not mounted")
    if _mount_target(grafana, "./deploy/grafana/provisioning") != "/etc/grafana/provisioning":
        problems.append("provisioning is not mounted at /etc/grafana/provisioning")
    return problems
