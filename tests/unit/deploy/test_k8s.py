"""deploy/k8s: every overlay renders, fits the Kubernetes schemas and keeps its promises.

Rendering uses the tiny kustomize in loaders.py; where `kubectl` is installed its
built-in kustomize renders too and both must agree. Every check is also run on a
broken copy to show it can fail.
"""

from __future__ import annotations

import copy
import shutil
import subprocess
from collections.abc import Callable
from typing import Any

import pytest
import yaml

from tests.unit.deploy.conftest import OVERLAYS
from tests.unit.deploy.k8s_checks import find, k8s_problems, schema_problems
from tests.unit.deploy.loaders import REPO, render_kustomization
from tests.unit.deploy.vllm_args import image_limit

MIN_IMAGES = 16
Objs = list[dict[str, Any]]


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_fits_the_kubernetes_schemas(rendered: dict[str, Objs], overlay: str) -> None:
    assert schema_problems(rendered[overlay]) == []


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_overlay_keeps_every_promise(rendered: dict[str, Objs], overlay: str) -> None:
    assert k8s_problems(rendered[overlay], min_images=MIN_IMAGES) == []


@pytest.mark.skipif(shutil.which("kubectl") is None,
                    reason="kubectl not installed: the tiny loader is not compared to kustomize")
@pytest.mark.parametrize("overlay", OVERLAYS)
def test_tiny_loader_renders_what_kustomize_renders(
    rendered: dict[str, Objs], overlay: str
) -> None:
    out = subprocess.run(["kubectl", "kustomize", str(REPO / "deploy/k8s/overlays" / overlay)],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    def key(o: dict[str, Any]) -> tuple[str, str]:
        return o["kind"], o["metadata"]["name"]
    theirs = {key(o): o for o in yaml.safe_load_all(out) if o}
    assert {key(o): o for o in rendered[overlay]} == theirs


def test_overlays_differ_where_they_promise(rendered: dict[str, Objs]) -> None:
    # external-redis ships no Redis and reads the URL from a Secret
    assert find(rendered["external-redis"], "StatefulSet", "redis") is None
    gateway = find(rendered["external-redis"], "Deployment", "o3-gateway")
    assert gateway is not None
    env = {e["name"]: e for e in gateway["spec"]["template"]["spec"]["containers"][0]["env"]}
    assert env["O3_REDIS_URL"]["valueFrom"]["secretKeyRef"]["name"] == "o3-redis"
    # prometheus-operator adds a ServiceMonitor per scraped Service
    kinds = [o["kind"] for o in rendered["prometheus-operator"]]
    assert kinds.count("ServiceMonitor") == 2
    # every namespaced object lands in open-o3
    assert {o["metadata"].get("namespace") for o in rendered["default"]
            if o["kind"] != "Namespace"} == {"open-o3"}


def test_tiny_loader_refuses_what_it_does_not_implement(tmp_path: Any) -> None:
    # a kustomize feature the loader would silently skip must fail loudly instead
    (tmp_path / "kustomization.yaml").write_text("resources: []\ncommonLabels: {a: b}\n")
    with pytest.raises(ValueError, match="commonLabels"):
        render_kustomization(tmp_path)


def _container(objs: Objs, name: str) -> dict[str, Any]:
    deploy = find(objs, "Deployment", name)
    assert deploy is not None
    container: dict[str, Any] = deploy["spec"]["template"]["spec"]["containers"][0]
    return container


def _pod(objs: Objs, name: str) -> dict[str, Any]:
    deploy = find(objs, "Deployment", name)
    assert deploy is not None
    pod: dict[str, Any] = deploy["spec"]["template"]
    return pod


def _drop_kind(kind: str) -> Callable[[Objs], None]:
    def mutate(objs: Objs) -> None:
        objs[:] = [o for o in objs if o["kind"] != kind]
    return mutate


BROKEN_SCHEMA: list[tuple[str, Callable[[Objs], None]]] = [
    # a misspelt probe field is silently ignored by the API server; strict mode catches it
    ("readinessProb", lambda o: _container(o, "o3-gateway").update(readinessProb={})),
    # replicas is an integer
    ("replicas", lambda o: find(o, "Deployment", "vllm")["spec"].update(replicas="one")),
    # ServiceMonitor endpoints follow the operator's CRD
    ("ServiceMonitor/vllm", lambda o: find(o, "ServiceMonitor", "vllm")["spec"]
     ["endpoints"][0].update(scrapeEvery="15s")),
]


@pytest.mark.parametrize(("where", "mutate"), BROKEN_SCHEMA)
def test_schema_check_rejects_a_broken_copy(
    rendered: dict[str, Objs], where: str, mutate: Callable[[Objs], None]
) -> None:
    objs = copy.deepcopy(rendered["prometheus-operator"])
    mutate(objs)
    problems = schema_problems(objs)
    assert any(where in p for p in problems), problems


def _gpu(objs: Objs, n: str) -> None:
    _container(objs, "vllm")["resources"]["limits"]["nvidia.com/gpu"] = n


BROKEN_PROMISES: list[tuple[str, Callable[[Objs], None]]] = [
    # readiness must be /ready (backend reachable), not /health
    ("readinessProbe is not GET /ready", lambda o: _container(o, "o3-gateway")
     ["readinessProbe"]["httpGet"].update(path="/health")),
    # a probe on a port the container does not declare never succeeds
    ("port 9000 is not declared", lambda o: _container(o, "o3-gateway")
     ["livenessProbe"]["httpGet"].update(port=9000)),
    # the gateway image runs as uid 10001; the pod must insist
    ("runAsNonRoot", lambda o: _pod(o, "o3-gateway")["spec"].pop("securityContext")),
    # the gateway scales horizontally
    ("HorizontalPodAutoscaler", _drop_kind("HorizontalPodAutoscaler")),
    # a PDB that selects nothing protects nothing
    ("PodDisruptionBudget", lambda o: next(x for x in o if x["kind"] == "PodDisruptionBudget")
     ["spec"]["selector"].update(matchLabels={"app": "other"})),
    # vLLM needs a GPU
    ("no nvidia.com/gpu", lambda o: _gpu(o, "0")),
    # tensor parallel size must equal the GPUs the pod gets
    ("--tensor-parallel-size differs", lambda o: _gpu(o, "2")),
    # a 7B model needs minutes to load before liveness may kill it
    ("startupProbe", lambda o: _container(o, "vllm").pop("startupProbe")),
    # the model cache is a PVC (downloaded once)
    ("model cache", lambda o: _pod(o, "vllm")["spec"]["volumes"][0].update(
        persistentVolumeClaim={"claimName": "missing"})),
    # vLLM must not be open to the cluster
    ("VLLM_API_KEY", lambda o: _container(o, "vllm").update(env=[])),
    # a Service whose targetPort no pod declares routes nowhere
    ("targetPort metrics", lambda o: find(o, "Service", "vllm")["spec"]["ports"][0]
     .update(targetPort="metrics")),
    # no scrape annotations and no ServiceMonitor: metrics are lost
    ("neither annotated", lambda o: (_pod(o, "vllm")["metadata"].pop("annotations"),
                                     _drop_kind("ServiceMonitor")(o))),
    # images pinned
    ("image not pinned", lambda o: _container(o, "vllm").update(image="vllm/vllm-openai")),
]


@pytest.mark.parametrize(("expected", "mutate"), BROKEN_PROMISES)
def test_promise_check_rejects_a_broken_copy(
    rendered: dict[str, Objs], expected: str, mutate: Callable[[Objs], None]
) -> None:
    objs = copy.deepcopy(rendered["prometheus-operator"])
    mutate(objs)
    problems = k8s_problems(objs, min_images=MIN_IMAGES)
    assert any(expected in p for p in problems), problems


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_gateway_image_limit_is_vllms(rendered: dict[str, Objs], overlay: str) -> None:
    """O3_MAX_IMAGES (the gateway's 400) = vLLM's --limit-mm-per-prompt image count.
    (tests/conformance also reads the args with vLLM's own parser.)"""
    objs = rendered[overlay]
    vllm = find(objs, "Deployment", "vllm")
    config = find(objs, "ConfigMap", "o3-gateway")
    assert vllm is not None and config is not None
    args = vllm["spec"]["template"]["spec"]["containers"][0]["args"]
    assert image_limit(args) == int(config["data"]["O3_MAX_IMAGES"])
