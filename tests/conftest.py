"""Shared test fixtures: a real redis-server for the whole session.

`redis_url`: `O3_TEST_REDIS_URL` when set (CI with a service container), else a
`redis-server` started here on a free port in a temporary directory, without
persistence, stopped at the end of the session. Skips (with the reason) only when the
binary is missing -- scripts/test.sh installs it. Each test that uses `redis_url`
gets its own logical database flushed before use (`redis_db_url`).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis

REDIS_BIN = shutil.which("redis-server") or "/usr/bin/redis-server"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_redis(workdir: Path, port: int | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a throwaway redis-server; returns (process, url). Caller terminates it."""
    if not Path(REDIS_BIN).exists():
        pytest.skip("redis-server binary not installed (scripts/test.sh installs it)")
    port = port or free_port()
    proc = subprocess.Popen(
        [REDIS_BIN, "--port", str(port), "--bind", "127.0.0.1", "--save", "",
         "--appendonly", "no", "--dir", str(workdir)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{port}/0"
    client = redis.Redis.from_url(url)
    for _ in range(200):
        try:
            client.ping()
            return proc, url
        except redis.ConnectionError:
            time.sleep(0.025)
    proc.kill()
    raise RuntimeError("redis-server did not start")


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    configured = os.environ.get("O3_TEST_REDIS_URL")
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
