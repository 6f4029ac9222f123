"""The `vllm serve` arguments we deploy with, through vLLM's own argument parser.

docker-compose.yml (interpolated with .env.example, and with compose's own defaults)
and every Kubernetes overlay (rendered by the deploy tests' kustomize loader) give an
argument list; vLLM 0.32's `vllm serve` parser + `validate_parsed_serve_args` +
`AsyncEngineArgs.from_cli_args` must accept it, and what vLLM reads from it must be
what the gateway next to it assumes: the image limit = O3_MAX_IMAGES, the served name =
O3_VLLM_MODEL, `--generation-config vllm`, a tensor-parallel size = the GPUs requested.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from service.settings import Settings
from tests.conformance.conftest import Probe
from tests.unit.deploy.loaders import (
    REPO,
    interpolate,
    load_yaml,
    parse_env_file,
    render_kustomization,
    required_vars,
)

pytestmark = pytest.mark.conformance
OVERLAYS = sorted(p.name for p in (REPO / "deploy/k8s/overlays").iterdir() if p.is_dir())


def compose(env: dict[str, str]) -> tuple[list[str], dict[str, str]]:
    """(vllm args, gateway environment) of docker-compose.yml under `env`."""
    text = (REPO / "docker-compose.yml").read_text()
    env = dict(env)
    for name in required_vars(text):
        env[name] = env.get(name) or f"k-{secrets.token_hex(8)}"
    doc: dict[str, Any] = interpolate(load_yaml(REPO / "docker-compose.yml"), env)
    services = doc["services"]
    return [str(a) for a in services["vllm"]["command"]], services["gateway"]["environment"]


def k8s(overlay: str) -> tuple[list[str], dict[str, str], int]:
    """(vllm args, gateway ConfigMap data, GPUs vLLM requests) of one overlay."""
    objs = render_kustomization(REPO / "deploy/k8s/overlays" / overlay)
    vllm = next(o for o in objs if o["kind"] == "Deployment" and o["metadata"]["name"] == "vllm")
    container = vllm["spec"]["template"]["spec"]["containers"][0]
    config = next(o for o in objs if o["kind"] == "ConfigMap"
                  and o["metadata"]["name"] == "o3-gateway")
    gpus = int(container["resources"]["limits"]["nvidia.com/gpu"])
    return [str(a) for a in container["args"]], config["data"], gpus


def check(probe: Probe, args: list[str], gateway: dict[str, str], gpus: int = 1) -> None:
    answer = probe.ask({"op": "args", "argv": args})
    assert answer["ok"], f"vLLM's parser refuses {args}: {answer['error']}"
    limit = int(gateway.get("O3_MAX_IMAGES", Settings(env="dev").max_images))
    assert answer["image_limit"] == limit, "vLLM's image limit != the gateway's O3_MAX_IMAGES"
    assert answer["served_model_name"] == [gateway["O3_VLLM_MODEL"]]
    assert answer["generation_config"] == "vllm"
    assert answer["tensor_parallel_size"] == gpus
    assert answer["max_model_len"] >= 32768


@pytest.mark.parametrize("env_source", ["env.example", "compose defaults"])
def test_compose_vllm_args(vllm_probe: Probe, env_source: str) -> None:
    env = parse_env_file(REPO / ".env.example") if env_source == "env.example" else {}
    args, gateway = compose(env)
    check(vllm_probe, args, gateway)


def test_compose_image_limit_moves_both(vllm_probe: Probe) -> None:
    """One variable sets both sides: VLLM_MAX_IMAGES=32 -> vLLM 32 and O3_MAX_IMAGES 32."""
    args, gateway = compose({**parse_env_file(REPO / ".env.example"), "VLLM_MAX_IMAGES": "32"})
    assert gateway["O3_MAX_IMAGES"] == "32"
    check(vllm_probe, args, gateway)


@pytest.mark.parametrize("overlay", OVERLAYS)
def test_k8s_vllm_args(vllm_probe: Probe, overlay: str) -> None:
    args, gateway, gpus = k8s(overlay)
    check(vllm_probe, args, gateway, gpus)


@pytest.mark.parametrize("broken", [
    ["--limit-mm-per-prompt", "{image: 64}"],      # not JSON
    ["--max-model-len", "32k tokens"],             # not a length
    ["--generation-config", "vllm", "--no-such-flag", "1"],
])
def test_the_parser_check_can_fail(vllm_probe: Probe, broken: list[str]) -> None:
    """Negative control: vLLM's parser refuses broken argument lists."""
    answer = vllm_probe.ask({"op": "args", "argv": ["--model", "m", *broken]})
    assert not answer["ok"], answer


def test_overlays_found() -> None:
    """The parametrisation above really covers the overlays (a renamed folder would
    silently drop one)."""
    assert {"default", "external-redis", "prometheus-operator", "tensor-parallel"} <= set(
        OVERLAYS)
