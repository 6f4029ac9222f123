"""Read the deployment files the way their tools do, without the tools.

- `interpolate` / `referenced_vars`: Docker Compose variable interpolation (`${VAR}`,
  `${VAR:-default}`, `${VAR-default}`, `${VAR:?error}`, `${VAR?error}`, `${VAR:+alt}`,
  `$VAR`, `$$`), as the Compose specification defines it.
- `parse_env_file`: a `.env` file (KEY=VALUE lines, `#` comments).
- `render_kustomization`: a tiny kustomize for the subset deploy/k8s uses (resources,
  namespace, inline JSON 6902 patches targeted by kind/name). Anything else in a
  kustomization raises, so the loader never silently differs from kustomize; where
  `kubectl` is installed a test compares both renderings.
- `dockerfile_stages`: a Dockerfile split into named stages of (instruction, argument).

Paths are relative to the repository root (`REPO`).
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonpatch
import yaml

REPO = Path(__file__).resolve().parents[3]
SCHEMAS = Path(__file__).resolve().parent / "schemas"
CLUSTER_SCOPED = frozenset({"Namespace", "PersistentVolume", "StorageClass", "ClusterRole",
                            "ClusterRoleBinding", "CustomResourceDefinition"})

_VAR = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)"
    r"(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}|(?P<named>[A-Za-z_][A-Za-z0-9_]*))"
)


class InterpolationError(ValueError):
    """A `${VAR:?message}` whose variable is unset or empty (compose refuses to start)."""


def _substitute(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match.group("escaped"):
        return "$"
    name = match.group("braced") or match.group("named")
    op, arg = match.group("op") or "", match.group("arg") or ""
    value = env.get(name)
    present = value is not None and (value != "" or ":" not in op)
    if op.endswith("-"):
        return value if present and value is not None else arg
    if op.endswith("?"):
        if not present or value is None:
            raise InterpolationError(f"{name}: {arg}")
        return value
    if op.endswith("+"):
        return arg if present else ""
    return value or ""


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Interpolate every string inside a parsed compose document (keys are left alone)."""
    if isinstance(value, str):
        return _VAR.sub(lambda m: _substitute(m, env), value)
    if isinstance(value, list):
        return [interpolate(item, env) for item in value]
    if isinstance(value, dict):
        return {key: interpolate(item, env) for key, item in value.items()}
    return value


def referenced_vars(text: str) -> set[str]:
    """Names of the variables a compose file interpolates."""
    return {m.group("braced") or m.group("named") for m in _VAR.finditer(text)
            if not m.group("escaped")}


def required_vars(text: str) -> set[str]:
    """Variables written `${VAR:?...}` / `${VAR?...}`: compose refuses to start without them."""
    return {m.group("braced") for m in _VAR.finditer(text) if (m.group("op") or "").endswith("?")}


def parse_env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of a .env file; blank lines and `#` comments ignored."""
    out: dict[str, str] = {}
    for raw in path.read_text().splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        if not sep:
            raise ValueError(f"{path.name}: not KEY=VALUE: {raw!r}")
        out[key.strip()] = value.strip()
    return out


def load_yaml(path: Path) -> Any:
    return yaml.safe_load(path.read_text())


# ---- kustomize (subset) -----------------------------------------------------------------

_KUSTOMIZATION_KEYS = {"apiVersion", "kind", "resources", "patches", "namespace", "images"}


def _patch_targets(objs: list[dict[str, Any]], target: dict[str, str]) -> list[int]:
    unknown = set(target) - {"kind", "name"}
    if unknown:
        raise ValueError(f"patch target keys not supported by the loader: {sorted(unknown)}")
    hits = [i for i, o in enumerate(objs)
            if o.get("kind") == target.get("kind", o.get("kind"))
            and o["metadata"]["name"] == target.get("name", o["metadata"]["name"])]
    if not hits:
        raise ValueError(f"patch target matches nothing: {target}")
    return hits


def _apply_patches(objs: list[dict[str, Any]], patches: list[dict[str, Any]]) -> None:
    for entry in patches:
        if set(entry) != {"target", "patch"}:
            raise ValueError(f"only inline JSON 6902 patches with a target: {sorted(entry)}")
        ops = yaml.safe_load(entry["patch"])
        for i in _patch_targets(objs, entry["target"]):
            objs[i] = jsonpatch.apply_patch(objs[i], ops)


def _set_images(objs: list[dict[str, Any]], images: list[dict[str, str]]) -> None:
    """kustomize `images:` entries: {name, newName?, newTag?} rewrite matching containers."""
    for entry in images:
        for obj in objs:
            pod = obj.get("spec", {}).get("template", {}).get("spec", {})
            for container in pod.get("containers", []):
                repo, _, tag = container["image"].partition(":")
                if repo == entry["name"]:
                    new = entry.get("newName", repo)
                    container["image"] = f"{new}:{entry.get('newTag', tag)}"


def render_kustomization(directory: Path) -> list[dict[str, Any]]:
    """Objects `kustomize build directory` produces, for the subset deploy/k8s uses."""
    spec = load_yaml(directory / "kustomization.yaml")
    unknown = set(spec) - _KUSTOMIZATION_KEYS
    if unknown:
        raise ValueError(f"{directory}: kustomization keys the loader does not know: {unknown}")
    objs: list[dict[str, Any]] = []
    for entry in spec.get("resources", []):
        path = (directory / entry).resolve()
        if path.is_dir():
            objs += render_kustomization(path)
        else:
            objs += [copy.deepcopy(d) for d in yaml.safe_load_all(path.read_text()) if d]
    _apply_patches(objs, spec.get("patches", []))
    _set_images(objs, spec.get("images", []))
    if namespace := spec.get("namespace"):
        for obj in objs:
            if obj["kind"] not in CLUSTER_SCOPED:
                obj["metadata"]["namespace"] = namespace
    return objs


# ---- Dockerfile ----------------------------------------------------------------------------


@dataclass
class Stage:
    """One `FROM ... AS name` stage: its base and its (INSTRUCTION, argument) lines."""

    name: str
    base: str
    lines: list[tuple[str, str]] = field(default_factory=list)

    def args(self, instruction: str) -> list[str]:
        return [arg for ins, arg in self.lines if ins == instruction]


def _logical_lines(text: str) -> list[str]:
    """Join backslash continuations; drop comments and parser directives."""
    lines, current = [], ""
    for raw in text.splitlines():
        stripped = raw.strip()
        if stripped.startswith("#") or (not stripped and not current):
            continue
        if stripped.endswith("\\"):
            current += stripped[:-1] + " "
            continue
        lines.append(current + stripped)
        current = ""
    return lines


def dockerfile_stages(text: str) -> list[Stage]:
    """Stages in file order; `FROM x AS y` names the stage y (unnamed: its index).

    Global `ARG NAME=default` lines before the first FROM are substituted into FROM.
    """
    stages: list[Stage] = []
    global_args: dict[str, str] = {}
    for line in _logical_lines(text):
        instruction, _, arg = line.partition(" ")
        instruction = instruction.upper()
        if instruction == "ARG" and not stages:
            key, _, default = arg.strip().partition("=")
            global_args[key] = default
        elif instruction == "FROM":
            words = arg.split()
            name = words[2] if len(words) >= 3 and words[1].upper() == "AS" else str(len(stages))
            base = re.sub(r"\$\{(\w+)\}", lambda m: global_args.get(m.group(1), ""), words[0])
            stages.append(Stage(name=name, base=base))
        elif stages:
            stages[-1].lines.append((instruction, arg.strip()))
    return stages
