"""The CLI's progress rows (clients/cli/progress.py) rendered by rich on a fake terminal."""

from __future__ import annotations

import io
import time

from rich.console import Console

from clients.cli.progress import WAITING, Progressor
from clients.sdk.models import Job


def terminal() -> tuple[Console, io.StringIO]:
    out = io.StringIO()
    return Console(file=out, force_terminal=True, width=140, color_system=None), out


def test_upload_then_live_wait_row_ticks() -> None:
    console, out = terminal()
    with Progressor(console) as progress:
        progress.upload(512, 1024)
        progress.upload(1024, 1024)       # the upload ends: the wait row starts at once
        time.sleep(1.3)                    # rich redraws live (10 Hz): elapsed ticks
        seen_while_waiting = out.getvalue()
        progress.done()
    assert WAITING in seen_while_waiting and "0:00:01" in seen_while_waiting
    last = out.getvalue().splitlines()[-2:]
    assert any("answered" in line for line in last)


def test_job_row_is_honest() -> None:
    """A job row names the job and its status; no bytes ("0/? bytes") on it."""
    console, out = terminal()
    with Progressor(console) as progress:
        progress.upload(10, 10)
        progress.job(Job(id="job_0123456789abcdef99", status="running"), 2.0)
        progress.job(Job(id="job_0123456789abcdef99", status="done"), 4.0)
    final = out.getvalue().split("\r")[-1]
    job_line = next(line for line in final.splitlines() if "job_0123456789ab" in line)
    assert "done" in job_line and "bytes" not in job_line and "?" not in job_line
    upload_line = next(line for line in final.splitlines() if "upload" in line)
    assert "10 bytes" in upload_line or "10/10 bytes" in upload_line


def test_disabled_draws_nothing() -> None:
    console, out = terminal()
    with Progressor(console, enabled=False) as progress:
        progress.upload(1, 1)
        progress.done()
    assert out.getvalue() == ""
