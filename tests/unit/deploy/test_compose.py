"""docker-compose.yml: valid Compose, and every promise of issue 5 kept.

Each check is also run on a deliberately broken copy, to show it can fail.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import pytest

from tests.unit.deploy.compose_checks import compose_problems, duration_s, schema_problems
from tests.unit.deploy.loaders import REPO, InterpolationError, interpolate, load_yaml
from tests.unit.deploy.vllm_args import image_limit

MIN_IMAGES = 16  # the gateway's default frame count (O3_DEFAULT_NUM_FRAMES)


def test_compose_file_matches_the_compose_specification(compose_doc: dict[str, Any]) -> None:
    assert schema_problems(compose_doc) == []


def test_compose_file_keeps_every_promise(compose_doc: dict[str, Any]) -> None:
    assert compose_problems(compose_doc, min_images=MIN_IMAGES) == []


def _svc(doc: dict[str, Any], name: str) -> dict[str, Any]:
    svc: dict[str, Any] = doc["services"][name]
    return svc


def _set_flag(flag: str, value: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        command = _svc(doc, "vllm")["command"]
        command[command.index(flag) + 1] = value
    return mutate


def _drop_flag(flag: str) -> Callable[[dict[str, Any]], None]:
    def mutate(doc: dict[str, Any]) -> None:
        command = _svc(doc, "vllm")["command"]
        i = command.index(flag)
        del command[i:i + 2]
    return mutate


BROKEN_SCHEMA: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    # a typo in a service key is not Compose
    ("services/redis", lambda d: _svc(d, "redis").update(healthchek={})),
    # depends_on conditions are an enum
    ("condition", lambda d: _svc(d, "gateway")["depends_on"]["vllm"].update(condition="ready")),
    # device reservations need capabilities as a list
    ("capabilities", lambda d: _svc(d, "vllm")["deploy"]["resources"]["reservations"]
     ["devices"][0].update(capabilities="gpu")),
]


@pytest.mark.parametrize(("where", "mutate"), BROKEN_SCHEMA)
def test_schema_check_rejects_a_broken_copy(
    compose_doc: dict[str, Any], where: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    doc = copy.deepcopy(compose_doc)
    mutate(doc)
    assert any(where in p for p in schema_problems(doc)), schema_problems(doc)


BROKEN_PROMISES: list[tuple[str, Callable[[dict[str, Any]], None]]] = [
    # vLLM must be the official image at a pinned tag, never :latest
    ("pinned tag", lambda d: _svc(d, "vllm").update(image="vllm/vllm-openai:latest")),
    # one GPU through the NVIDIA device reservation
    ("GPU reservation", lambda d: _svc(d, "vllm").pop("deploy")),
    # PyTorch workers need shared memory
    ("shm_size", lambda d: _svc(d, "vllm").pop("shm_size")),
    # the HF cache must survive container restarts
    ("Hugging Face cache", lambda d: _svc(d, "vllm").update(volumes=[])),
    # a 7B model needs a long start period or compose marks it unhealthy while loading
    ("start_period", lambda d: _svc(d, "vllm")["healthcheck"].update(start_period="60s")),
    # vLLM's health route
    ("probe /health", lambda d: _svc(d, "vllm")["healthcheck"].update(test=["CMD", "true"])),
    # frames go in as images: the limit must cover the frame policy
    ("allows 8 images", _set_flag("--limit-mm-per-prompt", '{"image": 8}')),
    # the flag takes JSON at the pinned vLLM version
    ("not JSON", _set_flag("--limit-mm-per-prompt", "image=64")),
    # the 64-frame benchmark policy must fit the context
    ("--max-model-len 8192", _set_flag("--max-model-len", "8192")),
    # `vllm serve` needs its model (the first positional argument)
    ("the model is missing", lambda d: _svc(d, "vllm")["command"].pop(0)),
    # near-greedy generation_config would make N samples identical
    ("--generation-config", _drop_flag("--generation-config")),
    # vLLM must not be open to anyone on the network
    ("--api-key", _drop_flag("--api-key")),
    # a health check on a port nothing listens on never turns healthy
    ("listens on 8000", lambda d: _svc(d, "gateway")["healthcheck"].update(
        test=["CMD", "curl", "-f", "http://127.0.0.1:8080/health"])),
    # the gateway image is the Dockerfile's gateway target
    ("gateway target", lambda d: _svc(d, "gateway")["build"].update(target="local")),
    # the gateway must not start before its dependencies are healthy
    ("healthy", lambda d: _svc(d, "gateway")["depends_on"].pop("redis")),
    # jobs and cache survive a Redis restart
    ("append-only", lambda d: _svc(d, "redis").update(command=["redis-server"])),
    # Redis data on a volume
    ("/data is not on a volume", lambda d: _svc(d, "redis").update(volumes=[])),
    # every third-party image pinned
    ("grafana: image not pinned", lambda d: _svc(d, "grafana").update(image="grafana/grafana")),
    # the whole stack is there
    ("services missing", lambda d: d["services"].pop("prometheus")),
]


@pytest.mark.parametrize(("expected", "mutate"), BROKEN_PROMISES)
def test_promise_check_rejects_a_broken_copy(
    compose_doc: dict[str, Any], expected: str, mutate: Callable[[dict[str, Any]], None]
) -> None:
    doc = copy.deepcopy(compose_doc)
    mutate(doc)
    problems = compose_problems(doc, min_images=MIN_IMAGES)
    assert any(expected in p for p in problems), problems


def test_compose_refuses_to_start_without_the_secrets() -> None:
    # an empty .env must stop `docker compose up` (no default API key ships)
    with pytest.raises(InterpolationError, match="VLLM_API_KEY"):
        interpolate(load_yaml(REPO / "docker-compose.yml"), {})


@pytest.mark.parametrize(("text", "seconds"), [
    ("600s", 600.0),  # plain seconds
    ("1m30s", 90.0),  # compound duration
    ("1h", 3600.0),  # hours
    ("500ms", 0.5),  # milliseconds are not minutes
])
def test_duration_parsing(text: str, seconds: float) -> None:
    assert duration_s(text) == pytest.approx(seconds)


@pytest.mark.parametrize("images", ["64", "32"])
def test_one_variable_sets_both_image_limits(compose_env: dict[str, str], images: str) -> None:
    """VLLM_MAX_IMAGES sets vLLM's --limit-mm-per-prompt AND the gateway's O3_MAX_IMAGES."""
    doc = interpolate(load_yaml(REPO / "docker-compose.yml"),
                      {**compose_env, "VLLM_MAX_IMAGES": images})
    services = doc["services"]
    assert image_limit(services["vllm"]["command"]) == int(images)
    assert services["gateway"]["environment"]["O3_MAX_IMAGES"] == images
