"""The CPU budget arithmetic: cores available, the per-process default, the setting."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from service.inference.cpu_budget import (
    cgroup_cpu_limit,
    cores_available,
    default_threads,
    resolve_threads,
)
from service.settings import Settings


@pytest.mark.parametrize(("workers", "cores", "threads"), [
    (1, 8, 7),   # one process: every core but one (event loop, decoding, neighbours)
    (2, 8, 3),   # two workers share the seven
    (4, 8, 1),   # rounded down: 4 x 1 <= 7, never oversubscribed
    (1, 2, 1),   # the 2-core machine: one thread (measured: robust beside busy processes)
    (3, 2, 1),   # more workers than cores: one thread each, never zero
    (1, 1, 1),   # a one-core container
])
def test_default_threads(workers: int, cores: int, threads: int) -> None:
    assert default_threads(workers, cores=cores) == threads


def test_default_threads_refuses_no_workers() -> None:
    with pytest.raises(ValueError, match="workers"):
        default_threads(0, cores=4)


@pytest.mark.parametrize(("text", "limit"), [
    ("max 100000", None),          # no quota
    ("150000 100000", 1.5),        # 1.5 CPUs (a Kubernetes limit of 1500m)
    ("50000 100000", 0.5),         # half a CPU
    ("garbage", None),             # unreadable: treated as no quota
])
def test_cgroup_cpu_limit(tmp_path: Path, text: str, limit: float | None) -> None:
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text(text + "\n", encoding="ascii")
    assert cgroup_cpu_limit(cpu_max) == limit


def test_cores_available_is_affinity_capped_by_quota(tmp_path: Path) -> None:
    affinity = len(os.sched_getaffinity(0))
    assert cores_available(tmp_path / "absent") == affinity  # no cgroup file
    cpu_max = tmp_path / "cpu.max"
    cpu_max.write_text("50000 100000\n", encoding="ascii")
    assert cores_available(cpu_max) == 1  # half a CPU still gets one thread
    cpu_max.write_text(f"{(affinity + 4) * 100000} 100000\n", encoding="ascii")
    assert cores_available(cpu_max) == affinity  # a quota above the affinity does not add


def test_resolve_threads_and_setting() -> None:
    assert resolve_threads(3, workers=8) == 3  # explicit wins
    assert resolve_threads(0, workers=1) == default_threads(1)
    with pytest.raises(ValueError):
        resolve_threads(-1, workers=1)
    s = Settings(_env_file=None, env="dev", workers=2)  # type: ignore[call-arg]
    assert s.threads_per_process == 0 and s.torch_threads == default_threads(2)
    s = Settings(_env_file=None, env="dev", threads_per_process=5)  # type: ignore[call-arg]
    assert s.torch_threads == 5


def test_passive_waits_default_only_before_torch(monkeypatch: pytest.MonkeyPatch) -> None:
    import sys

    from service.inference.cpu_budget import prefer_passive_waits

    monkeypatch.delenv("OMP_WAIT_POLICY", raising=False)
    monkeypatch.setitem(sys.modules, "torch", object())  # torch already imported: too late
    assert prefer_passive_waits() is False and "OMP_WAIT_POLICY" not in os.environ
    monkeypatch.delitem(sys.modules, "torch")
    assert prefer_passive_waits() is True and os.environ["OMP_WAIT_POLICY"] == "PASSIVE"
    monkeypatch.setenv("OMP_WAIT_POLICY", "ACTIVE")  # an operator's choice is kept
    prefer_passive_waits()
    assert os.environ["OMP_WAIT_POLICY"] == "ACTIVE"
