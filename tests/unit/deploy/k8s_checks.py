"""The promises of deploy/k8s (issue 5), as checks over rendered objects.

- `schema_problems(objs)`: every object against the Kubernetes schemas
  (kubernetes-validate, strict: unknown fields are errors); ServiceMonitors against the
  Prometheus Operator CRD schema vendored in schemas/ (made strict the same way).
- `k8s_problems(objs)`: gateway probes (/ready readiness, /health liveness) on a declared
  port; HPA and PDB aimed at the gateway; vLLM on nvidia.com/gpu with /health probes, a
  startup budget for a 7B model, a PVC model cache, shared memory, a tensor-parallel size
  equal to its GPUs; Services selecting pods that declare their target ports; a metrics
  scrape path (annotations or ServiceMonitor) for the gateway and vLLM; pinned images.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from functools import cache
from typing import Any

import jsonschema
import kubernetes_validate

from tests.unit.deploy.loaders import SCHEMAS
from tests.unit.deploy.vllm_args import flag_value, vllm_arg_problems

K8S_VERSION = "1.30"  # oldest Kubernetes the manifests promise to fit
VLLM_START_S = 600
Obj = dict[str, Any]


def _strict(schema: Any) -> Any:
    """Close every object schema that lists properties (as kubernetes-validate --strict)."""
    if isinstance(schema, dict):
        out = {k: _strict(v) for k, v in schema.items()}
        if "properties" in out and "additionalProperties" not in out:
            out["additionalProperties"] = False
        return out
    if isinstance(schema, list):
        return [_strict(v) for v in schema]
    return schema


@cache
def _servicemonitor_validator() -> jsonschema.Draft7Validator:
    schema = json.loads((SCHEMAS / "servicemonitor-v1.json").read_text())
    return jsonschema.Draft7Validator(_strict(schema))


def _one_schema_problems(obj: Obj) -> list[str]:
    where = f"{obj['kind']}/{obj['metadata']['name']}"
    if obj["kind"] == "ServiceMonitor":
        return [f"{where}: {'/'.join(map(str, e.absolute_path))}: {e.message}"
                for e in _servicemonitor_validator().iter_errors(obj)]
    try:
        kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
    except kubernetes_validate.ValidationError as e:
        return [f"{where}: {'.'.join(map(str, e.path))}: {e.message}"]
    except kubernetes_validate.SchemaNotFoundError as e:
        return [f"{where}: {e.message}"]
    return []


def schema_problems(objs: list[Obj]) -> list[str]:
    return [p for obj in objs for p in _one_schema_problems(obj)]


# ---- navigation ---------------------------------------------------------------------------


def find(objs: list[Obj], kind: str, name: str) -> Obj | None:
    return next((o for o in objs if o["kind"] == kind and o["metadata"]["name"] == name), None)


def pod_templates(objs: list[Obj]) -> Iterator[tuple[Obj, Obj]]:
    for obj in objs:
        if obj["kind"] in {"Deployment", "StatefulSet"}:
            yield obj, obj["spec"]["template"]


def _selects(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return bool(selector) and all(labels.get(k) == v for k, v in selector.items())


def _port_names(container: Obj) -> set[Any]:
    ports = container.get("ports", [])
    return {p.get("name") for p in ports} | {p["containerPort"] for p in ports}


def _http_path(probe: Obj | None) -> str | None:
    return (probe or {}).get("httpGet", {}).get("path")


# ---- gateway --------------------------------------------------------------------------------


def _probe_problems(name: str, container: Obj, ready: str, live: str) -> list[str]:
    problems = []
    for kind, path in (("readinessProbe", ready), ("livenessProbe", live)):
        probe = container.get(kind)
        if _http_path(probe) != path:
            problems.append(f"{name}: {kind} is not GET {path}")
        elif probe["httpGet"]["port"] not in _port_names(container):
            problems.append(f"{name}: {kind} port {probe['httpGet']['port']} is not declared")
    return problems


def _gateway_problems(objs: list[Obj]) -> list[str]:
    deploy = find(objs, "Deployment", "o3-gateway")
    if deploy is None:
        return ["Deployment o3-gateway is missing"]
    pod = deploy["spec"]["template"]
    container = pod["spec"]["containers"][0]
    problems = _probe_problems("o3-gateway", container, "/ready", "/health")
    if not pod["spec"].get("securityContext", {}).get("runAsNonRoot"):
        problems.append("o3-gateway: pods may run as root (runAsNonRoot)")
    hpa = next((o for o in objs if o["kind"] == "HorizontalPodAutoscaler"), None)
    if hpa is None or hpa["spec"]["scaleTargetRef"]["name"] != "o3-gateway":
        problems.append("no HorizontalPodAutoscaler scales Deployment o3-gateway")
    elif hpa["spec"].get("minReplicas", 1) < 2:
        problems.append("HPA minReplicas < 2: one gateway pod is a single point of failure")
    pdb = next((o for o in objs if o["kind"] == "PodDisruptionBudget"), None)
    if pdb is None or not _selects(pdb["spec"]["selector"]["matchLabels"],
                                   pod["metadata"]["labels"]):
        problems.append("no PodDisruptionBudget selects the gateway pods")
    return problems


# ---- vLLM -----------------------------------------------------------------------------------


def _startup_budget_s(container: Obj) -> float:
    probe = container.get("startupProbe") or {}
    return float(probe.get("initialDelaySeconds", 0)
                 + probe.get("periodSeconds", 10) * probe.get("failureThreshold", 3))


def _gpu_count(container: Obj) -> int:
    return int(container.get("resources", {}).get("limits", {}).get("nvidia.com/gpu", 0))


def _volume_problems(objs: list[Obj], pod: Obj, container: Obj) -> list[str]:
    volumes = {v["name"]: v for v in pod["spec"].get("volumes", [])}
    mounts = {m["mountPath"]: volumes.get(m["name"], {}) for m in container["volumeMounts"]}
    problems = []
    claim = mounts.get("/root/.cache/huggingface", {}).get("persistentVolumeClaim", {})
    if not claim or find(objs, "PersistentVolumeClaim", claim["claimName"]) is None:
        problems.append("vllm: the model cache is not an existing PVC")
    if mounts.get("/dev/shm", {}).get("emptyDir", {}).get("medium") != "Memory":
        problems.append("vllm: /dev/shm is not a memory emptyDir")
    return problems


def _vllm_problems(objs: list[Obj], min_images: int) -> list[str]:
    deploy = find(objs, "Deployment", "vllm")
    if deploy is None:
        return ["Deployment vllm is missing"]
    pod = deploy["spec"]["template"]
    container = pod["spec"]["containers"][0]
    args = [str(a) for a in container.get("args", [])]
    problems = [f"vllm: {p}" for p in vllm_arg_problems(args, min_images=min_images)]
    problems += _probe_problems("vllm", container, "/health", "/health")
    gpus = _gpu_count(container)
    if gpus < 1:
        problems.append("vllm: no nvidia.com/gpu limit")
    if int(flag_value(args, "--tensor-parallel-size") or 1) != gpus:
        problems.append(f"vllm: --tensor-parallel-size differs from its {gpus} GPUs")
    if _startup_budget_s(container) < VLLM_START_S:
        problems.append(f"vllm: startupProbe allows under {VLLM_START_S}s to load the model")
    if "VLLM_API_KEY" not in {e["name"] for e in container.get("env", [])}:
        problems.append("vllm: no VLLM_API_KEY: the server is open to the cluster")
    return problems + _volume_problems(objs, pod, container)


# ---- services, scraping, images -----------------------------------------------------------


def _service_problems(objs: list[Obj]) -> list[str]:
    problems = []
    for svc in (o for o in objs if o["kind"] == "Service"):
        name = svc["metadata"]["name"]
        pods = [t for _, t in pod_templates(objs)
                if _selects(svc["spec"].get("selector", {}), t["metadata"]["labels"])]
        if not pods:
            problems.append(f"Service {name} selects no pods")
            continue
        declared = set().union(*(_port_names(c) for t in pods for c in t["spec"]["containers"]))
        problems += [f"Service {name}: targetPort {p['targetPort']} not declared by its pods"
                     for p in svc["spec"]["ports"] if p.get("targetPort") not in declared]
    return problems


def _scraped_by_monitor(objs: list[Obj], svc: Obj) -> bool:
    ports = {p.get("name") for p in svc["spec"]["ports"]}
    return any(_selects(m["spec"]["selector"].get("matchLabels", {}), svc["metadata"]["labels"])
               and all(e.get("port") in ports for e in m["spec"]["endpoints"])
               for m in objs if m["kind"] == "ServiceMonitor")


def _scrape_problems(objs: list[Obj]) -> list[str]:
    problems = []
    for name in ("o3-gateway", "vllm"):
        svc = find(objs, "Service", name)
        deploy = find(objs, "Deployment", name)
        if svc is None or deploy is None:
            continue
        notes = deploy["spec"]["template"]["metadata"].get("annotations", {})
        container = deploy["spec"]["template"]["spec"]["containers"][0]
        annotated = (notes.get("prometheus.io/scrape") == "true"
                     and int(notes.get("prometheus.io/port", -1)) in _port_names(container))
        if not (annotated or _scraped_by_monitor(objs, svc)):
            problems.append(f"{name}: metrics are neither annotated nor in a ServiceMonitor")
    return problems


def _image_problems(objs: list[Obj]) -> list[str]:
    return [f"{o['metadata']['name']}: image not pinned: {c['image']}"
            for o, t in pod_templates(objs) for c in t["spec"]["containers"]
            if ":" not in c["image"] or c["image"].endswith(":latest")]


def k8s_problems(objs: list[Obj], *, min_images: int) -> list[str]:
    """Every broken promise of one rendered overlay (see module docstring)."""
    objs = copy.deepcopy(objs)
    return (_gateway_problems(objs) + _vllm_problems(objs, min_images)
            + _service_problems(objs) + _scrape_problems(objs) + _image_problems(objs))
