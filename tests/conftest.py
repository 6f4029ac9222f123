"""Shared test fixtures and hooks: a real redis-server for the whole session; `gpu`
tests skipped without CUDA; gateway logs in a failing test's report.

`redis_url`: `O3_TEST_REDIS_URL` when set (CI with a service container; ignored under
pytest-xdist when redis-server is installed, since workers would flush each other's
databases), else a `redis-server` started here on a free port (another port if that one
was taken before the server bound it) in a temporary directory, without
persistence, stopped at the end of the session. Skips (with the reason) only when the
binary is missing -- scripts/test.sh installs it. Each test that uses `redis_url`
gets its own logical database flushed before use (`redis_db_url`).

`@pytest.mark.gpu` tests are skipped, with the reason, when torch sees no CUDA device
(torch is imported only when such a test was collected). A test that fails while a
gateway process (tests/support/gateway.py) is running gets the tail of that
gateway's log as a report section, so a 500 in CI comes with its traceback.

Hypothesis: with `CI` set, property tests run derandomized (the same examples every
run), so a stop's verdict is reproducible from its commit; elsewhere they draw new
examples each run and keep failures in `.hypothesis/` to replay, which is how new
bugs are found. Random-bytes tests use seeded `random.Random`, never `os.urandom`,
when the bytes decide the answer (tests/integration/video/test_random_bytes.py).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Generator, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
from hypothesis import settings

settings.register_profile("ci", derandomize=True, database=None)
if os.environ.get("CI"):
    settings.load_profile("ci")

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a throwaway redis-server; returns (process, url). Caller terminates it."""
    if not Path(REDIS_BIN).exists():
        pytest.skip("redis-server binary not installed (scripts/test.sh installs it)")
    for _ in range(1 if port else 3):  # a chosen free port may be taken before the bind
        chosen = port or free_port()
        proc = subprocess.Popen(
            [REDIS_BIN, "--port", str(chosen), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(workdir)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        url = f"redis://127.0.0.1:{chosen}/0"
        if _pings(proc, url):
            return proc, url
        proc.kill()
        proc.wait(timeout=10)
    raise RuntimeError("redis-server did not start")


def _pings(proc: subprocess.Popen[bytes], url: str) -> bool:
    """True once OUR server answers (False if it exited: e.g. its port was taken)."""
    client = redis.Redis.from_url(url)
    for _ in range(200):
        if proc.poll() is not None:
            return False
        try:
            client.ping()
            return proc.poll() is None  # the answer came from our server, still alive
        except redis.ConnectionError:
            time.sleep(0.025)
    return False


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("O3_TEST_REDIS_URL")
    if configured and os.environ.get("PYTEST_XDIST_WORKER") and Path(REDIS_BIN).exists():
        configured = None  # xdist workers would FLUSHDB each other's data: one server each
    if configured:
        yield configured
        return
    proc, url = start_redis(tmp_path_factory.mktemp("redis"))
    try:
        yield url
    finally:
        proc.terminate()
        proc.wait(timeout=10)


@pytest.fixture
def redis_db_url(redis_url: str) -> str:
    """The session server's database 0, flushed: each test starts from an empty Redis."""
    redis.Redis.from_url(redis_url).flushdb()
    return redis_url


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    gpu = [item for item in items if item.get_closest_marker("gpu")]
    if not gpu:
        return
    import torch  # only when a gpu test was collected: importing torch costs seconds

    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs a CUDA GPU: torch.cuda.is_available() is False")
    for item in gpu:
        item.add_marker(skip)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]
                              ) -> Generator[None, Any, None]:
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        from tests.support.gateway import live_logs

        for name, tail in live_logs().items():
            report.sections.append((f"gateway log {name}", tail))
