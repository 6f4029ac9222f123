"""`o3-reason VIDEO QUESTION`: the command line over the SDK (also `python -m clients`).

Flow: upload the video (progress bar), ask while a live spinner ticks the elapsed time
(with the job's status if the server queued it), then print the result (or JSON with
`--json`) and write the evidence picture with `--annotate`.

Exit codes: 0 answered; 1 the server or the connection failed (message on stderr);
2 bad arguments or a local file problem.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console

from clients.cli.args import build_parser, reason_kwargs
from clients.cli.display import render_result
from clients.cli.progress import Progressor
from clients.sdk import Client, O3Error, ReasonResult


def main(argv: Sequence[str] | None = None) -> int:
    ns = build_parser().parse_args(argv)
    err = Console(stderr=True)
    try:
        result = _ask(ns, err)
    except O3Error as exc:
        err.print(f"[bold red]error:[/] {exc}")
        return 1
    except (OSError, ValueError, TypeError) as exc:
        err.print(f"[bold red]error:[/] {exc}")
        return 2
    _print(result, ns)
    if ns.annotate:
        return _annotate(ns, result, err)
    return 0


def _ask(ns: argparse.Namespace, err: Console) -> ReasonResult:
    kwargs = reason_kwargs(ns)
    show = not ns.no_progress and not ns.json
    with (
        Client(ns.server, ns.api_key, timeout=ns.timeout) as client,
        Progressor(err, enabled=show) as progress,
    ):
        if not Path(ns.video).is_file():  # a stored video's id: no upload, the wait starts now
            progress.waiting()
        result = client.reason(
            ns.video,
            ns.question,
            **kwargs,
            upload_progress=progress.upload,
            job_progress=progress.job,
            wait_timeout=ns.timeout,
        )
        progress.done()
        return result


def _print(result: ReasonResult, ns: argparse.Namespace) -> None:
    if ns.json:
        sys.stdout.write(result.model_dump_json(indent=2) + "\n")
        return
    Console().print(render_result(result, traces=ns.traces))


def _annotate(ns: argparse.Namespace, result: ReasonResult, err: Console) -> int:
    video = Path(ns.video)
    if not video.is_file():
        err.print("[bold red]error:[/] --annotate needs the video file, not a video id")
        return 2
    try:
        from clients.annotate import annotate
    except ImportError as exc:  # the SDK can be installed without the service package
        err.print(f"[bold red]error:[/] --annotate needs the service package ({exc})")
        return 2
    out = annotate(video, result, ns.annotate)
    err.print(f"evidence picture written to {out}")
    return 0
