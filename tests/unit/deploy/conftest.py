"""Fixtures of the deploy checks: the files as their tools would read them.

`compose_env` is .env.example with its (deliberately empty) secrets filled with random
values -- what a user has after `cp .env.example .env` and filling in the keys.
"""

from __future__ import annotations

import secrets
from typing import Any

import pytest

from tests.unit.deploy.loaders import (
    REPO,
    interpolate,
    load_yaml,
    parse_env_file,
    render_kustomization,
    required_vars,
)

OVERLAYS = ("default", "external-redis", "tensor-parallel", "prometheus-operator")


@pytest.fixture(scope="session")
def compose_text() -> str:
    return (REPO / "docker-compose.yml").read_text()


@pytest.fixture(scope="session")
def env_example() -> dict[str, str]:
    return parse_env_file(REPO / ".env.example")


@pytest.fixture(scope="session")
def compose_env(compose_text: str, env_example: dict[str, str]) -> dict[str, str]:
    env = dict(env_example)
    for name in required_vars(compose_text):
        env[name] = env.get(name) or f"k-{secrets.token_hex(16)}"
    return env


@pytest.fixture(scope="session")
def compose_doc(compose_text: str, compose_env: dict[str, str]) -> dict[str, Any]:
    doc: dict[str, Any] = interpolate(load_yaml(REPO / "docker-compose.yml"), compose_env)
    return doc


@pytest.fixture(scope="session")
def rendered() -> dict[str, list[dict[str, Any]]]:
    """Every overlay rendered by the tiny kustomize loader."""
    return {name: render_kustomization(REPO / "deploy/k8s/overlays" / name) for name in OVERLAYS}
