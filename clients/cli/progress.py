"""Progress display for the CLI: a byte bar for the upload, a spinner while a job runs.

`Progressor` adapts the SDK's callbacks (`upload(sent, total)`, `job(job, waited)`)
to one rich `Progress` on stderr, so stdout stays clean for `--json`. Disabled, it
accepts the same calls and draws nothing.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)

from clients.sdk.models import Job


class Progressor:
    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TransferSpeedColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._upload: TaskID | None = None
        self._job: TaskID | None = None

    def upload(self, sent: int, total: int) -> None:
        if self._upload is None:
            self._upload = self._progress.add_task("upload", total=total)
        self._progress.update(self._upload, completed=sent)

    def job(self, job: Job, waited: float) -> None:
        text = f"job {job.id[:12]} {job.status} ({waited:.0f}s)"
        if job.progress is not None and job.status == "running":  # a search's progress
            p = job.progress
            text += f" · {p.stage} {p.chunks_scanned}/{p.chunks_total} chunks"
        if self._job is None:
            self._job = self._progress.add_task(text, total=None)
        self._progress.update(self._job, description=text)
        if job.finished:
            self._progress.update(self._job, total=1, completed=1)

    def __enter__(self) -> Progressor:
        self._progress.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._progress.stop()
