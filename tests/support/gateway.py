"""The gateway as a real process (`python -m service`) for e2e and integration tests.

The one place tests start the gateway; `tests/e2e/*/conftest.py`, the deploy check and
the bench CLI test use it. Invariants:
- Every process writes its stdout AND stderr to `<workdir>/gateway.log` (never to a
  pipe nobody reads, never to /dev/null), so a failure can always be explained;
  while a gateway is running, a failing test's report carries the tail of its log
  (the `pytest_runtest_makereport` hook in tests/conftest.py reads `live_logs()`).
- The port is free when chosen (`free_port`), the data directory is per process
  (`<workdir>/data` unless the caller sets `O3_DATA_DIR`), so xdist workers and
  parallel runs never share state.
- The environment starts from the test process's own, minus every `O3_*` variable
  (a developer's shell must not change a test) unless `inherit_o3=True`.
- `start_gateway` returns once `wait_for` (`/health`, or `/ready` for a backend that
  loads its model on the first readiness check) answers 200; if the process exits or
  the time runs out it raises with the log's tail.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.conftest import free_port

REPO = Path(__file__).resolve().parents[2]
PORT_ATTEMPTS = 3
_LIVE: dict[int, GatewayProcess] = {}


@dataclass(frozen=True)
class GatewayProcess:
    url: str
    api_key: str | None
    proc: subprocess.Popen[bytes]
    log: Path

    @property
    def key(self) -> str:
        """The API key, or "" when auth is off (what the openai client wants)."""
        return self.api_key or ""

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}

    def log_tail(self, chars: int = 4000) -> str:
        return _tail(self.log, chars)

    def server_errors(self, chars: int = 6000) -> str:
        """The log's 5xx access lines and every traceback, for an assertion message: a
        rare 500 under load must come with its cause, not only its count."""
        try:
            lines = self.log.read_text(errors="replace").splitlines()
        except OSError as exc:
            return f"(no log: {exc})"
        keep, in_trace = [], False
        for line in lines:
            in_trace = in_trace or line.startswith("Traceback") or "Exception in ASGI" in line
            if in_trace or " 500 " in line or " 502 " in line:
                keep.append(line)
            if in_trace and line and not line.startswith((" ", "Traceback", "Exception")):
                in_trace = False  # the exception's own line ends the block
        return "\n".join(keep)[:chars] or "(no 5xx and no traceback in the log)"

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM (the lifespan shutdown runs), then SIGKILL after `timeout` s."""
        _LIVE.pop(id(self), None)
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        return self.proc.wait(timeout=10)


def gateway_env(env: Mapping[str, str], *, port: int, data_dir: Path,
                inherit_o3: bool = False) -> dict[str, str]:
    """The child's environment: ours (minus O3_*), the defaults of a test gateway, `env`;
    the port is always the free one chosen here."""
    base = {k: v for k, v in os.environ.items() if inherit_o3 or not k.startswith("O3_")}
    path = os.pathsep.join(p for p in (str(REPO), base.get("PYTHONPATH", "")) if p)
    return {**base, "PYTHONPATH": path, "O3_HOST": "127.0.0.1", "O3_DATA_DIR": str(data_dir),
            "O3_ENV": "dev", "O3_LOG_LEVEL": "warning", **env, "O3_PORT": str(port)}


def start_gateway(workdir: Path, env: Mapping[str, str], *, wait_for: str = "/health",
                  startup_s: float = 120.0, inherit_o3: bool = False,
                  cwd: Path = REPO) -> GatewayProcess:
    """Start `python -m service` on a free port; return once `wait_for` answers 200.

    A port taken by someone else between `free_port()` and the bind (parallel test
    runs) is not a failure: the gateway is started again on another port."""
    for attempt in range(PORT_ATTEMPTS):
        gw = _spawn(workdir, env, inherit_o3=inherit_o3, cwd=cwd)
        try:
            _wait_ready(gw, wait_for, startup_s)
            return gw
        except BaseException:
            gw.stop(timeout=5)
            if attempt + 1 < PORT_ATTEMPTS and _lost_port_race(gw):
                continue
            raise
    raise AssertionError("unreachable")  # the loop returns or raises


@contextmanager
def running_gateway(workdir: Path, env: Mapping[str, str], *, wait_for: str = "/health",
                    startup_s: float = 120.0, inherit_o3: bool = False,
                    cwd: Path = REPO) -> Iterator[GatewayProcess]:
    """`start_gateway` as a context manager: stopped (SIGTERM) when the block exits."""
    gw = start_gateway(workdir, env, wait_for=wait_for, startup_s=startup_s,
                       inherit_o3=inherit_o3, cwd=cwd)
    try:
        yield gw
    finally:
        gw.stop()


def _spawn(workdir: Path, env: Mapping[str, str], *, inherit_o3: bool,
           cwd: Path) -> GatewayProcess:
    workdir.mkdir(parents=True, exist_ok=True)
    full = gateway_env(env, port=free_port(), data_dir=workdir / "data", inherit_o3=inherit_o3)
    log = workdir / "gateway.log"
    with log.open("ab") as out:
        proc = subprocess.Popen([sys.executable, "-m", "service"], cwd=cwd, env=full,
                                stdout=out, stderr=subprocess.STDOUT)
    key = env.get("O3_API_KEYS", "").split(",")[0] or None
    gw = GatewayProcess(f"http://127.0.0.1:{full['O3_PORT']}", key, proc, log)
    _LIVE[id(gw)] = gw
    return gw


def _lost_port_race(gw: GatewayProcess) -> bool:
    return "address already in use" in gw.log_tail(2000).lower()


def live_logs(chars: int = 3000) -> dict[str, str]:
    """The log tails of the gateways running now (for a failing test's report)."""
    return {f"{gw.url} ({gw.log})": gw.log_tail(chars) for gw in list(_LIVE.values())}


def _wait_ready(gw: GatewayProcess, path: str, limit: float) -> None:
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if gw.proc.poll() is not None:
            raise RuntimeError(f"gateway exited ({gw.proc.returncode}):\n{gw.log_tail()}")
        try:
            if httpx.get(f"{gw.url}{path}", timeout=30.0).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"gateway not ready ({path}) after {limit:g} s:\n{gw.log_tail()}")


def _tail(path: Path, chars: int) -> str:
    try:
        return path.read_text(errors="replace")[-chars:]
    except OSError as exc:
        return f"(no log: {exc})"
