"""Prometheus scrapes what compose runs; Grafana's queries name metrics that exist.

Gateway metric names are read from the code (service/observability/metrics.py), vLLM's
from the list vendored for the pinned version; each check also fails a broken copy.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.deploy.loaders import REPO, SCHEMAS, load_yaml
from tests.unit.deploy.monitoring_checks import (
    Metric,
    dashboard_problems,
    exported,
    gateway_metrics,
    grafana_problems,
    prometheus_problems,
    promql_labels,
    promql_metrics,
    series,
    vllm_metrics,
)

GRAFANA = REPO / "deploy/grafana"
Dashboard = dict[str, Any]


@pytest.fixture(scope="module")
def dashboard() -> Dashboard:
    data: Dashboard = json.loads((GRAFANA / "dashboards/o3.json").read_text())
    return data


@pytest.fixture(scope="module")
def known() -> dict[str, Metric]:
    return exported(gateway_metrics() + vllm_metrics())


@pytest.fixture(scope="module")
def datasource_uid() -> str:
    config = load_yaml(GRAFANA / "provisioning/datasources/prometheus.yml")
    return str(config["datasources"][0]["uid"])


def test_gateway_metrics_are_read_from_the_code() -> None:
    # the dashboard check is only as good as this list: it must come from the gateway
    names = {m.name for m in gateway_metrics()}
    assert {"o3_http_requests", "o3_stage_duration_seconds", "o3_inference_queue_depth"} <= names


def test_vendored_vllm_metrics_match_the_pinned_image() -> None:
    data = json.loads((SCHEMAS / "vllm_metrics.json").read_text())
    compose = (REPO / "docker-compose.yml").read_text()
    k8s = (REPO / "deploy/k8s/base/vllm-deployment.yaml").read_text()
    assert data["image"] in compose and data["image"] in k8s


def test_dashboard_queries_name_exported_metrics(
    dashboard: Dashboard, known: dict[str, Metric], datasource_uid: str
) -> None:
    assert dashboard_problems(dashboard, known, datasource_uid) == []


def test_prometheus_scrapes_the_compose_services(compose_doc: dict[str, Any]) -> None:
    config = load_yaml(REPO / "deploy/prometheus/prometheus.yml")
    assert prometheus_problems(config, compose_doc) == []


def test_grafana_provisioning_matches_compose(compose_doc: dict[str, Any]) -> None:
    datasources = load_yaml(GRAFANA / "provisioning/datasources/prometheus.yml")
    provider = load_yaml(GRAFANA / "provisioning/dashboards/o3.yml")
    assert grafana_problems(datasources, provider, compose_doc) == []


@pytest.mark.parametrize(("expr", "metrics", "labels"), [
    # rate over a counter, grouped: function names and `by` labels are not metrics
    ("sum by (route) (rate(o3_http_requests_total[5m]))", {"o3_http_requests_total"},
     {"route"}),
    # vLLM names contain colons; `le` comes from the bucket
    ("histogram_quantile(0.95, sum by (le) (rate(vllm:time_to_first_token_seconds_bucket"
     "[$__rate_interval])))", {"vllm:time_to_first_token_seconds_bucket"}, {"le"}),
    # label matchers (with regex values) are labels, not metrics
    ('sum(rate(o3_cache_requests_total{result="hit"}[5m])) / sum(rate(o3_cache_requests_total'
     '[5m]))', {"o3_cache_requests_total"}, {"result"}),
    # a binary operation of two metrics names both
    ("vllm:prefix_cache_hits_total / vllm:prefix_cache_queries_total",
     {"vllm:prefix_cache_hits_total", "vllm:prefix_cache_queries_total"}, set()),
])
def test_promql_parsing(expr: str, metrics: set[str], labels: set[str]) -> None:
    assert promql_metrics(expr) == metrics
    assert promql_labels(expr) == labels


@pytest.mark.parametrize(("metric", "names"), [
    # prometheus-client strips _total from a counter's name and adds it to the series
    (Metric("o3_jobs", "counter", None), {"o3_jobs_total", "o3_jobs_created"}),
    # a histogram has no series of its own name
    (Metric("h", "histogram", None), {"h_bucket", "h_sum", "h_count"}),
    # a gauge is itself
    (Metric("g", "gauge", None), {"g"}),
])
def test_series_names(metric: Metric, names: set[str]) -> None:
    assert series(metric) == names


def _first_expr(old: str, new: str) -> Callable[[Dashboard], None]:
    def mutate(d: Dashboard) -> None:
        for panel in d["panels"]:
            for target in panel.get("targets", []):
                if old in target["expr"]:
                    target["expr"] = target["expr"].replace(old, new)
                    return
        raise AssertionError(f"{old} is in no query")
    return mutate


BROKEN_DASHBOARD: list[tuple[str, Callable[[Dashboard], None]]] = [
    # the metric vLLM v0.32.0 no longer exports
    ("vllm:gpu_cache_usage_perc", _first_expr("vllm:kv_cache_usage_perc",
                                              "vllm:gpu_cache_usage_perc")),
    # a histogram queried by its base name has no data
    ("o3_stage_duration_seconds is exported",
     _first_expr("o3_stage_duration_seconds_bucket", "o3_stage_duration_seconds")),
    # a gateway metric renamed in the dashboard but not in the code
    ("o3_http_requests_count", _first_expr("o3_http_requests_total", "o3_http_requests_count")),
    # grouping by a label the metric does not have gives one empty series
    ("label 'path'", _first_expr("by (route, method)", "by (path, method)")),
    # a panel on another datasource shows nothing
    ("datasource", lambda d: d["panels"][1]["targets"][0]["datasource"].update(uid="other")),
    # the list of panels: KV-cache usage must be shown
    ("KV-cache usage", lambda d: d.update(panels=[p for p in d["panels"]
                                                  if p["title"] != "KV-cache usage"])),
]


@pytest.mark.parametrize(("expected", "mutate"), BROKEN_DASHBOARD)
def test_dashboard_check_rejects_a_broken_copy(
    dashboard: Dashboard, known: dict[str, Metric], datasource_uid: str,
    expected: str, mutate: Callable[[Dashboard], None]
) -> None:
    broken = copy.deepcopy(dashboard)
    mutate(broken)
    problems = dashboard_problems(broken, known, datasource_uid)
    assert any(expected in p for p in problems), problems


def test_renamed_gateway_metric_breaks_the_dashboard(
    dashboard: Dashboard, datasource_uid: str
) -> None:
    # as if the gateway renamed o3_inference_queue_depth: the code-derived list changes
    renamed = [Metric("o3_queue_depth", m.type, m.labels) if m.name == "o3_inference_queue_depth"
               else m for m in gateway_metrics()]
    problems = dashboard_problems(dashboard, exported(renamed + vllm_metrics()), datasource_uid)
    assert any("o3_inference_queue_depth" in p for p in problems), problems


BROKEN_SCRAPE: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    # a target that is not a compose service
    ("not a compose service", lambda c: c["scrape_configs"][0]["static_configs"][0]
     .update(targets=["gw:8000"])),
    # the right service on the wrong port
    ("listens on 8000", lambda c: c["scrape_configs"][1]["static_configs"][0]
     .update(targets=["vllm:9000"])),
    # vLLM not scraped at all
    ("no scrape job for vllm", lambda c: c["scrape_configs"].pop(1)),
]


@pytest.mark.parametrize(("expected", "mutate"), BROKEN_SCRAPE)
def test_prometheus_check_rejects_a_broken_copy(
    compose_doc: dict[str, Any], expected: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    config = load_yaml(REPO / "deploy/prometheus/prometheus.yml")
    mutate(config)
    problems = prometheus_problems(config, compose_doc)
    assert any(expected in p for p in problems), problems


def test_grafana_check_rejects_a_broken_copy(compose_doc: dict[str, Any]) -> None:
    datasources = load_yaml(GRAFANA / "provisioning/datasources/prometheus.yml")
    provider = load_yaml(GRAFANA / "provisioning/dashboards/o3.yml")
    datasources["datasources"][0]["url"] = "http://localhost:9090"
    provider["providers"][0]["options"]["path"] = "/var/lib/grafana/dashboards"
    problems = grafana_problems(datasources, provider, compose_doc)
    assert len(problems) == 2, problems
