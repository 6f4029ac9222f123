"""Running many samples: resume from a JSONL file, bounded concurrency, progress,
failures recorded per sample without stopping the run.

`ResultStore` is an append-only JSONL file of one record per finished sample:
`{"key": ..., "ok": true, ...}` or `{"key": ..., "ok": false, "error": "..."}`. The
last record of a key wins. On resume, keys with an `ok` record are not asked again;
failed keys are retried.

`run_all(items, work, store, ...)` runs `work(item)` for every item whose key is not
done, at most `concurrency` at a time, writes each outcome as soon as it is known
(so an interrupted run loses at most the samples in flight), and shows a progress bar
on stderr. An exception in `work` becomes that sample's failure record.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
Record = dict[str, Any]


class ResultStore:
    """One JSONL file of per-sample records (see the module docstring)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)

    def load(self) -> dict[str, Record]:
        """The latest record per key; unreadable lines (a torn last write) are ignored."""
        records: dict[str, Record] = {}
        if not self.path.exists():
            return records
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                rec = json.loads(line)
            except json.JSONDecodeError:
                continue
            if isinstance(rec, dict) and isinstance(rec.get("key"), str):
                records[rec["key"]] = rec
        return records

    def done_keys(self) -> set[str]:
        return {k for k, r in self.load().items() if r.get("ok")}

    def append(self, record: Record) -> None:
        with self.path.open("a", encoding="utf-8") as f:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")
            f.flush()


@dataclass(frozen=True)
class Keyed(Generic[T]):
    key: str
    item: T


@dataclass(frozen=True)
class RunStats:
    asked: int       # samples run in this invocation
    skipped: int     # already done before (resume)
    failed: int      # failures in this invocation


async def run_all(
    items: Sequence[Keyed[T]],
    work: Callable[[T], Awaitable[Record]],
    store: ResultStore,
    *,
    concurrency: int = 4,
    progress: bool = True,
    label: str = "samples",
) -> RunStats:
    done = store.done_keys()
    todo = [k for k in items if k.key not in done]
    gate = asyncio.Semaphore(max(1, concurrency))
    failures = 0
    with _progress(progress) as bar:
        task = bar.add_task(label, total=len(items), completed=len(items) - len(todo))

        async def one(k: Keyed[T]) -> None:
            nonlocal failures
            async with gate:
                record = await _attempt(k, work)
            failures += 0 if record["ok"] else 1
            store.append(record)
            bar.advance(task)

        await asyncio.gather(*(one(k) for k in todo))
    return RunStats(asked=len(todo), skipped=len(items) - len(todo), failed=failures)


async def _attempt(k: Keyed[T], work: Callable[[T], Awaitable[Record]]) -> Record:
    try:
        body = await work(k.item)
    except asyncio.CancelledError:
        raise
    except Exception as exc:  # one sample's failure must not stop the run
        return {"key": k.key, "ok": False, "error": f"{type(exc).__name__}: {exc}"}
    return {"key": k.key, "ok": True, **body}


def _progress(enabled: bool) -> Progress:
    return Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=Console(stderr=True),
        disable=not enabled,
    )
