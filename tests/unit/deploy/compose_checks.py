"""The promises docker-compose.yml makes (issue 5), as checks that return problems.

`compose_problems(doc)` takes the INTERPOLATED compose document (what `docker compose`
validates and runs) and returns one message per broken promise; empty = all kept.
`schema_problems(doc)` validates it against the vendored Compose specification schema.
"""

from __future__ import annotations

import json
import re
from typing import Any

import jsonschema

from tests.unit.deploy.loaders import SCHEMAS
from tests.unit.deploy.vllm_args import flag_value, vllm_arg_problems

PINNED = re.compile(r"^[\w./-]+:v?\d+(\.\d+)+[\w.-]*$")
DURATION = re.compile(r"(\d+(?:\.\d+)?)(h|ms|m|s|us)")
SECONDS = {"h": 3600.0, "m": 60.0, "s": 1.0, "ms": 1e-3, "us": 1e-6}
VLLM_START_S = 600  # a 7B model: download + load + CUDA graphs


def duration_s(value: str) -> float:
    """Compose duration ('1m30s', '600s') in seconds."""
    return sum(float(n) * SECONDS[u] for n, u in DURATION.findall(str(value)))


def schema_problems(doc: dict[str, Any]) -> list[str]:
    schema = json.loads((SCHEMAS / "compose-spec.json").read_text())
    validator = jsonschema.Draft7Validator(schema)
    return [f"{'/'.join(map(str, e.absolute_path))}: {e.message}"
            for e in validator.iter_errors(doc)]


def _gpu_problems(svc: dict[str, Any]) -> list[str]:
    devices = svc.get("deploy", {}).get("resources", {}).get("reservations", {}) \
        .get("devices", [])
    ok = any(d.get("driver") == "nvidia" and "gpu" in d.get("capabilities", [])
             and int(d.get("count", 0)) >= 1 for d in devices)
    return [] if ok else ["vllm: no NVIDIA GPU reservation (deploy.resources.reservations)"]


def _health_problems(name: str, svc: dict[str, Any], path: str, start_s: float,
                     port: int | None = None) -> list[str]:
    check = svc.get("healthcheck", {})
    test = " ".join(map(str, check.get("test", [])))
    problems = [] if path in test else [f"{name}: healthcheck does not probe {path}"]
    probed = re.findall(r":(\d+)/", test)
    if port is not None and probed != [str(port)]:
        problems.append(f"{name}: healthcheck probes port {probed}, the service listens on {port}")
    if duration_s(check.get("start_period", "0s")) < start_s:
        problems.append(f"{name}: healthcheck start_period below {start_s:.0f}s")
    return problems


def _vllm_problems(svc: dict[str, Any], min_images: int) -> list[str]:
    args = [str(a) for a in svc.get("command", [])]
    problems = [f"vllm: {p}" for p in vllm_arg_problems(args, min_images=min_images)]
    if not flag_value(args, "--api-key"):
        problems.append("vllm: --api-key is missing or empty")
    if not PINNED.match(str(svc.get("image", ""))) or "vllm/vllm-openai" not in svc["image"]:
        problems.append(f"vllm: image is not the official one at a pinned tag: {svc.get('image')}")
    if not svc.get("shm_size") and svc.get("ipc") != "host":
        problems.append("vllm: no shm_size (or ipc: host) for PyTorch shared memory")
    if not any(str(v).endswith(":/root/.cache/huggingface") for v in svc.get("volumes", [])):
        problems.append("vllm: no volume for the Hugging Face cache")
    port = int(flag_value(args, "--port") or 8000)
    return (problems + _gpu_problems(svc)
            + _health_problems("vllm", svc, "/health", VLLM_START_S, port))


def _gateway_problems(svc: dict[str, Any]) -> list[str]:
    problems = []
    if svc.get("build", {}).get("target") != "gateway":
        problems.append("gateway: not built from the Dockerfile's gateway target")
    deps = svc.get("depends_on", {})
    for dep in ("vllm", "redis"):
        if not isinstance(deps, dict) or deps.get(dep, {}).get("condition") != "service_healthy":
            problems.append(f"gateway: does not wait for {dep} to be healthy")
    port = int(svc.get("environment", {}).get("O3_PORT", 8000))
    return problems + _health_problems("gateway", svc, "/health", 0, port)


def _redis_problems(svc: dict[str, Any]) -> list[str]:
    command = " ".join(map(str, svc.get("command", [])))
    problems = [] if "--appendonly yes" in command else ["redis: append-only persistence off"]
    if not any(str(v).endswith(":/data") for v in svc.get("volumes", [])):
        problems.append("redis: /data is not on a volume")
    return problems + _health_problems("redis", svc, "ping", 0)


def _pin_problems(services: dict[str, Any]) -> list[str]:
    return [f"{name}: image not pinned to a version: {svc.get('image')}"
            for name, svc in services.items()
            if "build" not in svc and not PINNED.match(str(svc.get("image", "")))]


def compose_problems(doc: dict[str, Any], *, min_images: int) -> list[str]:
    """Every broken promise of an interpolated compose document (see module docstring)."""
    services = doc.get("services", {})
    missing = {"vllm", "gateway", "redis", "prometheus", "grafana"} - set(services)
    if missing:
        return [f"services missing: {sorted(missing)}"]
    return (_vllm_problems(services["vllm"], min_images) + _gateway_problems(services["gateway"])
            + _redis_problems(services["redis"]) + _pin_problems(services))
