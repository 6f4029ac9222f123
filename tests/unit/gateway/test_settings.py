"""Settings validation: errors name the variable to change."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from service.settings import Settings


def make(**kw: Any) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg]


@pytest.mark.parametrize(("kw", "says"), [
    ({"backend": "vllm"}, "O3_VLLM_URL"),                           # vllm needs a URL
    ({"vllm_url": "vllm:8000"}, "http://"),                         # URL needs a scheme
    ({"api_keys": "changeme"}, "O3_API_KEYS"),                      # placeholder key in prod
    ({"sync_max_duration_s": 10, "max_duration_s": 5}, "O3_SYNC_MAX_DURATION_S"),
    ({"default_n": 20, "max_n": 8}, "O3_DEFAULT_N"),                # default above the cap
    ({"redis_url": "localhost:6379"}, "O3_REDIS_URL"),              # scheme missing
    ({"default_min_pixels": 784}, "3136"),          # under Qwen2.5-VL's floor of 4 patches
    ({"default_num_frames": 65}, "O3_MAX_IMAGES"),  # more frames than vLLM takes images
])
def test_refused_with_advice(kw: dict[str, Any], says: str) -> None:
    with pytest.raises(ValidationError) as err:
        make(**kw)
    assert says in str(err.value)


def test_derived_values() -> None:
    s = make(vllm_url="http://v:8000", api_keys=" a, b ,,", env="dev")
    assert s.resolved_backend == "vllm"          # auto picks vllm when a URL is set
    assert s.api_key_list == ("a", "b")          # comma list trimmed, empties dropped
    assert make().resolved_backend == "local"    # no URL: the embedded default
    assert make(env="dev", api_keys="changeme").auth_enabled  # dev allows placeholders


def test_reads_prefixed_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("O3_MAX_CONCURRENCY", "7")
    monkeypatch.setenv("O3_VIDEO_URL_ALLOWLIST", "a.example,.b.example")
    s = make()
    assert s.max_concurrency == 7 and s.allowlist == ("a.example", ".b.example")
