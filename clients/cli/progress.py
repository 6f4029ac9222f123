"""Progress display for the CLI: a byte bar for the upload, then a live spinner with the
elapsed time while the answer is computed (synchronously or as a job).

`Progressor` adapts the SDK's callbacks (`upload(sent, total)`, `job(job, waited)`)
to one rich `Progress` on stderr, so stdout stays clean for `--json`. Disabled, it
accepts the same calls and draws nothing.

Invariants: bytes and speed are shown on the upload row only (a job has no bytes: no
"0/? bytes"); from the end of the upload (or the start, for a stored video) until the
answer arrives one row says what the server is doing and ticks its elapsed time.
"""

from __future__ import annotations

from types import TracebackType

from rich.console import Console
from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TransferSpeedColumn,
)
from rich.text import Text

from clients.sdk.models import Job

WAITING = "waiting for the answer (the model samples and votes)"


class _UploadOnly(ProgressColumn):
    """A column drawn on the upload row only (bytes and speed mean nothing for a job)."""

    def __init__(self, column: ProgressColumn) -> None:
        super().__init__()
        self.column = column

    def render(self, task: Task) -> Text:
        if task.fields.get("kind") != "upload":
            return Text("")
        rendered = self.column.render(task)
        return rendered if isinstance(rendered, Text) else Text(str(rendered))


class Progressor:
    def __init__(self, console: Console, *, enabled: bool = True) -> None:
        self.enabled = enabled
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            _UploadOnly(DownloadColumn()),
            _UploadOnly(TransferSpeedColumn()),
            TimeElapsedColumn(),
            console=console,
            transient=False,
            disable=not enabled,
        )
        self._upload: TaskID | None = None
        self._wait: TaskID | None = None

    def upload(self, sent: int, total: int) -> None:
        if self._upload is None:
            self._upload = self._progress.add_task("upload", total=total, kind="upload")
        self._progress.update(self._upload, completed=sent)
        if total and sent >= total:
            self.waiting()

    def waiting(self) -> None:
        """Start the live row for the time the server computes the answer (idempotent)."""
        if self._wait is None:
            self._wait = self._progress.add_task(WAITING, total=None, kind="wait")

    def job(self, job: Job, waited: float) -> None:
        """The server queued the request as a job: the row says so, with its status
        (and a search's stage and chunks scanned)."""
        self.waiting()
        assert self._wait is not None
        text = f"job {job.id[:16]} {job.status} (polled after {waited:.0f}s)"
        if job.progress is not None and job.status == "running":  # a search's progress
            p = job.progress
            text += f" · {p.stage} {p.chunks_scanned}/{p.chunks_total} chunks"
        self._progress.update(self._wait, description=text)
        if job.finished:
            self._progress.update(self._wait, total=1, completed=1)

    def done(self) -> None:
        """The answer arrived: the live row stops, showing how long it took."""
        if self._wait is not None:
            self._progress.update(self._wait, description="answered", total=1, completed=1)

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
