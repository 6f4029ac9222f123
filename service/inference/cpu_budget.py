"""The CPU budget of one gateway process: how many threads its torch pools may use.

Owns `cores_available` (CPUs this process may run on: its affinity mask, capped by a
cgroup v2 CPU quota when one is set, as in a container with a CPU limit),
`default_threads` (the cores but one, shared by the worker processes, at least 1) and
`apply_torch_threads`
(sizes torch's inter-op pool once per process and the calling thread's intra-op pool).

Why: torch sizes its pools from the machine's cores, per process. With several
workers, or beside other busy processes, every process then runs more threads than it
has cores, and torch's parallel regions wait at barriers for threads the scheduler
has parked: a measured 4-9x slowdown (bench/README.md, "Local backend on a busy CPU").

Invariants:
- torch is imported lazily, inside `apply_torch_threads`: importing this module costs
  nothing.
- torch lets the inter-op pool be sized only once per process, before any inter-op
  work; later calls change only the intra-op size (the inter-op pool is idle in eager
  mode anyway).
- The intra-op size is per OS thread (OpenMP state): the backend applies it in the
  worker thread of every call, not once at start.
- `prefer_passive_waits` sets `OMP_WAIT_POLICY=PASSIVE` as a default before torch is
  first imported (the local backend's constructor and `python -m service` call it);
  a value already in the environment is kept.
"""

from __future__ import annotations

import importlib
import logging
import math
import os
import sys
from pathlib import Path

log = logging.getLogger("service.inference.cpu_budget")
CGROUP_CPU_MAX = Path("/sys/fs/cgroup/cpu.max")
_APPLIED: list[int] = []  # the inter-op size set in this process (torch allows one)


def cgroup_cpu_limit(cpu_max: Path = CGROUP_CPU_MAX) -> float | None:
    """CPUs a cgroup v2 quota allows (`quota / period` from cpu.max), None when unlimited
    or unknown."""
    try:
        quota, _, period = cpu_max.read_text(encoding="ascii").strip().partition(" ")
    except OSError:
        return None
    if quota == "max" or not period:
        return None
    try:
        return int(quota) / int(period)
    except (ValueError, ZeroDivisionError):
        return None


def cores_available(cpu_max: Path = CGROUP_CPU_MAX) -> int:
    """CPUs this process may use: its affinity, capped by a cgroup CPU quota (rounded up)."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (
        os.cpu_count() or 1)
    limit = cgroup_cpu_limit(cpu_max)
    if limit is not None:
        cores = min(cores, max(1, math.ceil(limit)))
    return max(1, cores)


def default_threads(workers: int, cores: int | None = None) -> int:
    """Threads per process when the setting is 0: the cores but one, shared by the
    workers, at least 1.

    One core is left to what runs beside torch (the event loop, HTTP, frame decoding)
    and to whatever else the machine runs: measured on the quiet 2-core machine beside
    one CPU hog per core (bench/README.md, "Local backend on a busy CPU"), the tiny
    model's request was 1.37-1.47x slower with 1 thread but 1.53-1.87x with 2, which
    were only 1-20% faster when the machine was otherwise idle.

    >>> default_threads(1, cores=8), default_threads(2, cores=8), default_threads(4, cores=8)
    (7, 3, 1)
    >>> default_threads(1, cores=2), default_threads(3, cores=2), default_threads(1, cores=1)
    (1, 1, 1)
    """
    if workers < 1:
        raise ValueError(f"workers must be >= 1, got {workers}")
    cores = cores if cores is not None else cores_available()
    return max(1, (cores - 1) // workers)


def resolve_threads(setting: int, workers: int) -> int:
    """The setting when positive, else `default_threads(workers)`."""
    if setting < 0:
        raise ValueError(f"threads must be >= 0 (0 = automatic), got {setting}")
    return setting if setting > 0 else default_threads(workers)


def prefer_passive_waits() -> bool:
    """Ask OpenMP (torch's CPU pool) to let waiting threads sleep rather than spin.

    A spinning thread at a barrier burns the time slice a descheduled teammate needs;
    beside other busy processes that turns a parallel op into a wait for the
    scheduler (measured: 2 threads beside 2 CPU hogs 4.1x slower than quiet with
    spinning, 1.8x with passive waits). OpenMP reads `OMP_WAIT_POLICY` once, when
    torch is first imported, so this only sets the default (an operator's own value
    wins) and only before that import. Returns whether it can still take effect.
    """
    if "torch" in sys.modules:
        return False
    os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
    return True


def apply_torch_threads(threads: int) -> None:
    """Size torch's pools to `threads`: the inter-op pool (process-wide, once) and the
    intra-op pool OF THE CALLING THREAD.

    The intra-op size is per thread: OpenMP keeps `omp_set_num_threads` in the caller's
    own state, so a pool thread that never called it runs at torch's default (all
    cores). Call this (cheap when nothing changes) in every thread that runs torch.
    """
    if threads < 1:
        raise ValueError(f"threads must be >= 1, got {threads}")
    torch = importlib.import_module("torch")
    if torch.get_num_threads() != threads:
        torch.set_num_threads(threads)
    if _APPLIED:
        return
    try:
        torch.set_num_interop_threads(threads)
    except RuntimeError as exc:  # inter-op work already ran in this process
        log.warning("torch inter-op pool left at %d threads: %s",
                    torch.get_num_interop_threads(), exc)
    _APPLIED.append(torch.get_num_interop_threads())
    log.info("torch threads: intra-op %d, inter-op %d", threads, _APPLIED[0])
