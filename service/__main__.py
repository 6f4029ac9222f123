"""`python -m service`: validate settings, prepare, and run the gateway under uvicorn.

- Settings errors are printed with what to change, exit status 2.
- With the local backend and no `O3_CHECKPOINT`, the random tiny checkpoint is built
  here, once, before any worker starts.
- With `O3_WORKERS` > 1, prometheus-client's multiprocess mode is switched on
  (`PROMETHEUS_MULTIPROC_DIR` under the data dir, emptied at start) BEFORE workers
  import it, so /metrics aggregates every worker.
- Access logging is done by our middleware (with the request id), not uvicorn's.
- With the local backend, OpenMP's passive wait policy is the default before torch
  is first imported (`service.inference.cpu_budget.prefer_passive_waits`).
- Shutdown is bounded: on SIGTERM uvicorn waits at most O3_SHUTDOWN_GRACE_S for
  running requests (e.g. a slow video_url fetch), then cancels them.
"""

from __future__ import annotations

import os
import shutil
import sys

from fastapi import FastAPI
from pydantic import ValidationError

from service.settings import Settings


def app_from_env() -> FastAPI:
    """uvicorn factory (one call per worker process)."""
    from service.app import create_app

    return create_app(Settings())


def _multiprocess_metrics(settings: Settings) -> None:
    if settings.workers <= 1 or os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        return
    path = settings.data_dir / "prometheus-multiproc"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = str(path)


def main() -> int:
    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"invalid settings:\n{exc}", file=sys.stderr)
        return 2
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if settings.resolved_backend == "local":
        from service.inference.cpu_budget import prefer_passive_waits

        prefer_passive_waits()  # before the tiny build imports torch (inherited by workers)
    if settings.resolved_backend == "local" and not settings.checkpoint:
        from service.app import ensure_tiny_checkpoint

        ensure_tiny_checkpoint(settings)
    _multiprocess_metrics(settings)
    import uvicorn

    uvicorn.run("service.__main__:app_from_env", factory=True, host=settings.host,
                port=settings.port, workers=settings.workers, log_level=settings.log_level,
                access_log=False, timeout_graceful_shutdown=settings.shutdown_grace_s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
