"""Every variable the deployment sets is read by something; the gateway gets what it needs.

Sources: docker-compose.yml (interpolated variables and each service's environment),
.env.example, every rendered kustomize overlay (container env + ConfigMaps they load),
the Dockerfile's ENV lines. Gateway settings come from `service.settings.Settings`.
"""

from __future__ import annotations

import copy
from typing import Any

import pydantic
import pytest

from tests.unit.deploy.env_checks import (
    Peers,
    documented_vars,
    gateway_settings,
    required_setting_vars,
    setting_vars,
    unknown_vars,
    wiring_problems,
)
from tests.unit.deploy.k8s_checks import find
from tests.unit.deploy.loaders import REPO, dockerfile_stages, required_vars
from tests.unit.deploy.vllm_args import flag_value

SECRETS = {"VLLM_API_KEY", "O3_API_KEYS", "GRAFANA_ADMIN_PASSWORD"}
# what a user puts in Secrets whose value has a format (docs/DEPLOY.md); others get
# "secret:<name>/<key>", distinct per key, so a crossed reference shows
SECRET_EXAMPLES = {"o3-redis/url": "rediss://:password@redis.example.com:6380/0"}
Objs = list[dict[str, Any]]


def _compose_env(doc: dict[str, Any], service: str) -> dict[str, str]:
    env = doc["services"][service].get("environment", {})
    assert isinstance(env, dict), "environment must be a mapping"
    return {k: str(v) for k, v in env.items()}


def _container_env(objs: Objs, container: dict[str, Any]) -> dict[str, str]:
    """A container's environment; Secret refs become examples (see SECRET_EXAMPLES)."""
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        cm = find(objs, "ConfigMap", source["configMapRef"]["name"])
        assert cm is not None, f"envFrom names a missing ConfigMap {source}"
        env.update({k: str(v) for k, v in cm["data"].items()})
    for item in container.get("env", []):
        ref = item.get("valueFrom", {}).get("secretKeyRef")
        ref_id = f"{ref['name']}/{ref['key']}" if ref else ""
        env[item["name"]] = (SECRET_EXAMPLES.get(ref_id, f"secret:{ref_id}") if ref
                             else str(item["value"]))
    return env


def _containers(objs: Objs) -> list[tuple[str, dict[str, Any]]]:
    return [(o["metadata"]["name"], c) for o in objs if o["kind"] in {"Deployment", "StatefulSet"}
            for c in o["spec"]["template"]["spec"]["containers"]]


def _dockerfile_env() -> set[str]:
    names = set()
    for stage in dockerfile_stages((REPO / "Dockerfile").read_text()):
        for arg in stage.args("ENV"):
            names |= {word.split("=", 1)[0] for word in arg.split() if "=" in word}
    return names


@pytest.fixture(scope="module")
def used(compose_text: str, compose_doc: dict[str, Any], env_example: dict[str, str],
         rendered: dict[str, Objs]) -> dict[str, set[str]]:
    """Variable names by the file that uses them."""
    from tests.unit.deploy.loaders import referenced_vars
    k8s = {n for objs in rendered.values() for _, c in _containers(objs)
           for n in _container_env(objs, c)}
    compose_keys = {k for s in compose_doc["services"] for k in _compose_env(compose_doc, s)}
    return {"compose interpolation": referenced_vars(compose_text),
            "compose environment": compose_keys, ".env.example": set(env_example),
            "kubernetes": k8s, "Dockerfile": _dockerfile_env()}


@pytest.mark.parametrize("source", ["compose interpolation", "compose environment",
                                    ".env.example", "kubernetes", "Dockerfile"])
def test_every_variable_is_a_setting_or_documented(
    used: dict[str, set[str]], source: str
) -> None:
    assert unknown_vars(used[source], documented_vars()) == []


def test_every_documented_variable_is_used(used: dict[str, set[str]]) -> None:
    assert documented_vars() - set().union(*used.values()) == set()


def test_env_example_names_exactly_what_compose_reads(
    compose_text: str, env_example: dict[str, str]
) -> None:
    from tests.unit.deploy.loaders import referenced_vars
    assert set(env_example) == referenced_vars(compose_text)


def test_secrets_ship_empty_and_stop_compose(
    compose_text: str, env_example: dict[str, str]
) -> None:
    assert required_vars(compose_text) >= SECRETS
    assert {name: env_example[name] for name in SECRETS} == dict.fromkeys(SECRETS, "")


def test_o3_variables_only_reach_the_gateway(
    compose_doc: dict[str, Any], rendered: dict[str, Objs]
) -> None:
    settings = setting_vars()
    strays = [(s, k) for s in compose_doc["services"] if s != "gateway"
              for k in _compose_env(compose_doc, s) if k in settings]
    strays += [(name, n) for objs in rendered.values() for name, c in _containers(objs)
               if name != "o3-gateway" for n in _container_env(objs, c) if n in settings]
    assert strays == []


def _compose_peers(doc: dict[str, Any]) -> Peers:
    args = [str(a) for a in doc["services"]["vllm"]["command"]]
    target = str(doc["services"]["gateway"]["ports"][0]).rsplit(":", 1)[-1]
    return Peers(vllm_host="vllm", vllm_port=int(flag_value(args, "--port") or 8000),
                 redis_host="redis", redis_port=6379,
                 served_model=str(flag_value(args, "--served-model-name")),
                 listen_port=int(target))


def test_compose_gateway_is_complete_and_wired(compose_doc: dict[str, Any]) -> None:
    env = _compose_env(compose_doc, "gateway")
    assert required_setting_vars() - set(env) == set()
    settings = gateway_settings(env)
    assert wiring_problems(settings, _compose_peers(compose_doc)) == []
    vllm_args = [str(a) for a in compose_doc["services"]["vllm"]["command"]]
    assert settings.vllm_api_key == flag_value(vllm_args, "--api-key")


def _k8s_peers(objs: Objs) -> tuple[Peers, dict[str, Any], dict[str, Any]]:
    containers = dict(_containers(objs))
    vllm_svc, redis_svc = find(objs, "Service", "vllm"), find(objs, "Service", "redis")
    assert vllm_svc is not None
    args = [str(a) for a in containers["vllm"]["args"]]
    peers = Peers(vllm_host="vllm", vllm_port=vllm_svc["spec"]["ports"][0]["port"],
                  redis_host="redis" if redis_svc else None, redis_port=6379,
                  served_model=str(flag_value(args, "--served-model-name")),
                  listen_port=containers["o3-gateway"]["ports"][0]["containerPort"])
    return peers, containers["o3-gateway"], containers["vllm"]


@pytest.mark.parametrize("overlay", ["default", "external-redis", "tensor-parallel",
                                     "prometheus-operator"])
def test_kubernetes_gateway_is_complete_and_wired(
    rendered: dict[str, Objs], overlay: str
) -> None:
    objs = rendered[overlay]
    peers, gateway, vllm = _k8s_peers(objs)
    env = _container_env(objs, gateway)
    assert required_setting_vars() - set(env) == set()
    settings = gateway_settings(env)
    assert wiring_problems(settings, peers) == []
    # the gateway sends the very key vLLM requires
    assert settings.vllm_api_key == _container_env(objs, vllm)["VLLM_API_KEY"]


# ---- the checks can fail ----------------------------------------------------------------


def test_unknown_variable_is_reported() -> None:
    # a misspelt setting is read by nothing
    assert unknown_vars({"O3_VLLM_ULR", "O3_VLLM_URL"}, documented_vars()) == ["O3_VLLM_ULR"]


def test_undocumented_variable_is_reported() -> None:
    # a non-O3 variable must have a row in docs/DEPLOY.md
    without = documented_vars() - {"HF_TOKEN"}
    assert unknown_vars({"HF_TOKEN"}, without) == ["HF_TOKEN"]


def test_documented_vars_reads_only_the_variables_table() -> None:
    # rows outside "## Variables" (e.g. the services table) are not documentation of vars
    text = "## Services\n| `NOT_A_VAR` | x |\n## Variables\n| `A_VAR` | y | z |\n## Next\n"
    assert documented_vars(text) == {"A_VAR"}


BROKEN_WIRING: list[tuple[str, str, str]] = [
    # a typo in the vLLM host
    ("O3_VLLM_URL", "http://vlm:8000", "O3_VLLM_URL"),
    # the wrong port
    ("O3_VLLM_URL", "http://vllm:8001", "O3_VLLM_URL"),
    # the gateway must ask for the name vLLM serves
    ("O3_VLLM_MODEL", "Qwen/Qwen2.5-VL-7B-Instruct", "served-model-name"),
    # Redis elsewhere than the deployed one
    ("O3_REDIS_URL", "redis://localhost:6379/0", "O3_REDIS_URL"),
    # default host: unreachable from outside the container
    ("O3_HOST", "127.0.0.1", "listens on"),
    # auto without a URL falls back to the local model
    ("O3_BACKEND", "local", "backend resolves to local"),
    # no client keys: /v1 open to anyone
    ("O3_API_KEYS", "", "O3_API_KEYS"),
]


@pytest.mark.parametrize(("key", "value", "expected"), BROKEN_WIRING)
def test_wiring_check_rejects_a_broken_copy(
    compose_doc: dict[str, Any], key: str, value: str, expected: str
) -> None:
    env = {**_compose_env(compose_doc, "gateway"), key: value}
    problems = wiring_problems(gateway_settings(env), _compose_peers(compose_doc))
    assert any(expected in p for p in problems), problems


def test_invalid_settings_stop_the_check(compose_doc: dict[str, Any]) -> None:
    # the gateway refuses N defaults above its own cap: so must this test
    env = {**_compose_env(compose_doc, "gateway"), "O3_DEFAULT_N": "32"}
    with pytest.raises(pydantic.ValidationError, match="O3_DEFAULT_N"):
        gateway_settings(env)


def test_missing_required_setting_is_reported(compose_doc: dict[str, Any]) -> None:
    # dropping O3_REDIS_URL would silently use an in-process cache per replica
    doc = copy.deepcopy(compose_doc)
    doc["services"]["gateway"]["environment"].pop("O3_REDIS_URL")
    assert required_setting_vars() - set(_compose_env(doc, "gateway")) == {"O3_REDIS_URL"}
