"""The promises of the Dockerfile (issue 5), as checks that return problems.

A target's chain is the stage and everything it is built FROM or COPYs `--from`; its
effective USER / HEALTHCHECK / CMD are the last ones along its FROM line.
- `gateway` is the default (last) target; nothing in its chain installs torch,
  transformers or vllm; `local` installs torch at the version pyproject pins.
- Both targets run `python -m service` as a non-root user with a HEALTHCHECK on /health.
- The base is a slim Python 3.11 image.
"""

from __future__ import annotations

import json
import re

from tests.unit.deploy.loaders import Stage

HEAVY = re.compile(r"\b(torch|vllm|transformers)\b|\.\[local\]")
ROOT_USERS = {"", "root", "0", "0:0", "root:root"}


def _by_name(stages: list[Stage]) -> dict[str, Stage]:
    return {s.name: s for s in stages}


def from_line(stages: list[Stage], target: str) -> list[Stage]:
    """The target and its FROM ancestors, target first."""
    named, line = _by_name(stages), []
    stage: Stage | None = named.get(target)
    while stage is not None:
        line.append(stage)
        stage = named.get(stage.base)
    return line


def chain(stages: list[Stage], target: str) -> list[Stage]:
    """Every stage whose output can end up in the target (FROM and COPY --from)."""
    named, seen, todo = _by_name(stages), [], [target]
    while todo:
        stage = named.get(todo.pop())
        if stage is None or stage in seen:
            continue
        seen.append(stage)
        todo.append(stage.base)
        todo += re.findall(r"--from=(\S+)", " ".join(stage.args("COPY")))
    return seen


def effective(stages: list[Stage], target: str, instruction: str) -> str:
    for stage in from_line(stages, target):
        found = stage.args(instruction)
        if found:
            return found[-1]
    return ""


def _target_problems(stages: list[Stage], target: str) -> list[str]:
    problems = []
    if effective(stages, target, "USER").strip() in ROOT_USERS:
        problems.append(f"{target}: runs as root (no USER)")
    health = effective(stages, target, "HEALTHCHECK")
    if not re.search(r"/health(?![\w/])", health) or "NONE" in health.split():
        problems.append(f"{target}: no HEALTHCHECK on /health")
    cmd = effective(stages, target, "CMD")
    try:
        if json.loads(cmd) != ["python", "-m", "service"]:
            problems.append(f"{target}: CMD is not python -m service: {cmd}")
    except ValueError:
        problems.append(f"{target}: CMD is not the exec form of python -m service: {cmd!r}")
    return problems


def dockerfile_problems(stages: list[Stage], torch_pin: str) -> list[str]:
    """Every broken promise (see module docstring); torch_pin e.g. '2.13.0'."""
    names = [s.name for s in stages]
    if not {"gateway", "local"} <= set(names):
        return [f"targets gateway and local are required, found {names}"]
    problems = [] if names[-1] == "gateway" else ["gateway is not the default (last) stage"]
    for stage in chain(stages, "gateway"):
        problems += [f"gateway chain installs a heavy package in {stage.name}: {run}"
                     for run in stage.args("RUN") if HEAVY.search(run)]
    local_runs = " ".join(r for s in chain(stages, "local") for r in s.args("RUN"))
    local_args = " ".join(a for s in chain(stages, "local") for a in s.args("ARG"))
    if f"TORCH_VERSION={torch_pin}" not in local_args or "torch==" not in local_runs:
        problems.append(f"local: torch is not installed at the pinned {torch_pin}")
    for base in {s.base for s in stages} - set(names):
        if not re.match(r"^python:3\.11[\w.-]*-slim", base):
            problems.append(f"base image is not a slim Python 3.11: {base}")
    return problems + _target_problems(stages, "gateway") + _target_problems(stages, "local")
