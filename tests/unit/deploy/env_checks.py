"""Settings consistency: the deployment files set only what something reads.

- `setting_vars()`: the gateway's variables, from `Settings.model_fields` and its prefix.
- `documented_vars()`: the other variables, from the table under "## Variables" in
  docs/DEPLOY.md (each row: `NAME` | who reads it | meaning).
- `unknown_vars(names)`: names that are neither.
- `gateway_settings(env)`: the gateway's Settings built from exactly `env` (no process
  environment, no .env file), as a container with that environment would build it.
- `wiring_problems(settings, ...)`: the gateway points at the vLLM/Redis it is deployed with.

DEPLOYMENT_REQUIRED lists the settings whose defaults are right for a laptop and wrong in
a container; every deployment must set them.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from urllib.parse import urlsplit

from pydantic_settings import BaseSettings, PydanticBaseSettingsSource

from service.settings import Settings
from tests.unit.deploy.loaders import REPO

DEPLOYMENT_REQUIRED = {
    "O3_HOST",  # default 127.0.0.1 is unreachable from outside the container
    "O3_BACKEND",  # explicit vllm: `auto` would fall back to a local model silently
    "O3_VLLM_URL",  # where vLLM is
    "O3_VLLM_API_KEY",  # vLLM is started with --api-key
    "O3_REDIS_URL",  # shared cache and job queue; default is in-process
    "O3_API_KEYS",  # the gateway's own clients authenticate
    "O3_DATA_DIR",  # the video store on the mounted volume
}


def setting_vars() -> set[str]:
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    return {prefix + name.upper() for name in Settings.model_fields}


def required_setting_vars() -> set[str]:
    """Settings without a default (pydantic) plus DEPLOYMENT_REQUIRED."""
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    fields = {prefix + n.upper() for n, f in Settings.model_fields.items() if f.is_required()}
    return fields | DEPLOYMENT_REQUIRED


def documented_vars(text: str | None = None) -> set[str]:
    """Variable names of the table under `## Variables` in docs/DEPLOY.md."""
    text = text if text is not None else (REPO / "docs/DEPLOY.md").read_text()
    section = text.split("\n## Variables", 1)[-1].split("\n## ", 1)[0] if text else ""
    return set(re.findall(r"^\|\s*`([A-Z][A-Z0-9_]*)`\s*\|", section, flags=re.MULTILINE))


def unknown_vars(names: Iterable[str], documented: set[str]) -> list[str]:
    settings = setting_vars()
    return sorted(n for n in names if n not in settings and n not in documented)


class _ExactSettings(Settings):
    """Settings that read only their arguments: no process environment, no .env file."""

    @classmethod
    def settings_customise_sources(
        cls, settings_cls: type[BaseSettings], init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource, dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        return (init_settings,)


def gateway_settings(env: Mapping[str, str]) -> Settings:
    """Settings from exactly `env`, as a container with that environment builds them."""
    prefix = str(Settings.model_config.get("env_prefix", "")).upper()
    values = {k[len(prefix):].lower(): v for k, v in env.items() if k.startswith(prefix)}
    return _ExactSettings(**values)


@dataclass
class Peers:
    """What the gateway is deployed next to: service host/port and vLLM's served model."""

    vllm_host: str
    vllm_port: int
    redis_host: str | None
    redis_port: int
    served_model: str
    listen_port: int


def _endpoint(url: str, default_port: int) -> tuple[str | None, int]:
    parts = urlsplit(url)
    return parts.hostname, parts.port or default_port


def wiring_problems(s: Settings, peers: Peers) -> list[str]:
    problems = []
    if s.resolved_backend != "vllm":
        problems.append(f"gateway backend resolves to {s.resolved_backend}, not vllm")
    if _endpoint(s.vllm_url, 80) != (peers.vllm_host, peers.vllm_port):
        problems.append(f"O3_VLLM_URL {s.vllm_url} is not {peers.vllm_host}:{peers.vllm_port}")
    if peers.redis_host and _endpoint(s.redis_url, 6379) != (peers.redis_host, peers.redis_port):
        problems.append(f"O3_REDIS_URL {s.redis_url!r} is not {peers.redis_host}")
    if s.vllm_model != peers.served_model:
        problems.append(f"O3_VLLM_MODEL {s.vllm_model} != vLLM --served-model-name "
                        f"{peers.served_model}")
    if s.host != "0.0.0.0" or s.port != peers.listen_port:
        problems.append(f"gateway listens on {s.host}:{s.port}, not 0.0.0.0:{peers.listen_port}")
    if not s.auth_enabled:
        problems.append("gateway has no O3_API_KEYS: /v1 is open")
    return problems
