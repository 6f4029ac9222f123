"""Held-out evaluation of a checkpoint on STGR records, through the SERVICE's local backend.

Owns: `evaluate(checkpoint, json_path, data_cfg)`, which builds each record's sample
exactly as the service builds a request (`training.data.build_sample(served=True)`:
the service's sampler and prompt builder, no key frames or other annotations), asks
`service.inference.local_hf.LocalHFBackend` for completions with explicit sampling, and
scores them with the training rewards (sigma at its final value). Reported per reward
and per task, so an ablation table can be printed from it.

Invariant: evaluation never touches the trainer; it reads the checkpoint directory the
way the service does, so a passing evaluation also proves the checkpoint is servable.
"""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from service.inference.backend import SamplingParams
from training.config import DataConfig, RewardConfig
from training.data import Sample, iter_samples
from training.rewards import score_all

TERMS = ("accuracy", "format", "temporal", "spatial")


@dataclass
class EvalReport:
    """Mean of each reward term overall and per task, plus how many completions."""

    n: int = 0
    means: dict[str, float] = field(default_factory=dict)
    by_task: dict[str, dict[str, float]] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    rows: list[dict[str, float]] = field(default_factory=list)  # per completion, in order
    texts: list[str] = field(default_factory=list)              # the completions, in order
    tasks: list[str] = field(default_factory=list)              # each completion's task

    @property
    def total(self) -> float:
        return sum(self.means.get(t, 0.0) for t in TERMS)


def paired_delta(
    base: EvalReport, other: EvalReport, terms: Sequence[str] = TERMS
) -> tuple[float, float]:
    """Mean and standard error of `other - base` in the sum of `terms` (default: the
    total reward), record by record.

    Both reports must score the same records in the same order (one completion each,
    as greedy evaluation gives): pairing removes the records' own difficulty from the
    noise, which is what decides whether a small held-out difference means anything.
    """
    if len(base.rows) != len(other.rows) or not base.rows:
        raise ValueError("paired_delta needs two reports over the same non-empty records")
    diffs = [sum(o[t] for t in terms) - sum(b[t] for t in terms)
             for b, o in zip(base.rows, other.rows, strict=True)]
    mean = sum(diffs) / len(diffs)
    if len(diffs) < 2:
        return mean, float("nan")
    var = sum((d - mean) ** 2 for d in diffs) / (len(diffs) - 1)
    return mean, (var / len(diffs)) ** 0.5


def _mean(rows: Sequence[dict[str, float]]) -> dict[str, float]:
    return {t: sum(r[t] for r in rows) / len(rows) for t in TERMS} if rows else {}


async def _complete(backend: object, sample: Sample, n: int, sampling: SamplingParams) -> list[str]:
    result = await backend.sample(sample.prompt, sample.images, n, sampling)  # type: ignore[attr-defined]
    return [c.text for c in result.completions]


def evaluate(
    checkpoint: str | Path, json_path: str | Path, data_cfg: DataConfig,
    *, rewards: RewardConfig | None = None, n: int = 1,
    sampling: SamplingParams | None = None,
) -> EvalReport:
    """Score `n` completions per held-out record (greedy by default)."""
    from service.inference.local_hf import LocalHFBackend

    sampling = sampling or SamplingParams(temperature=0.0, max_tokens=128, seed=0)
    backend = LocalHFBackend(checkpoint, device="cpu", dtype="float32")
    # served=True: the prompt the service would build (no key frames, no annotations)
    samples = iter_samples(json_path, data_cfg, "rl", served=True)
    return score_samples(samples, lambda s: asyncio.run(_complete(backend, s, n, sampling)),
                         rewards or RewardConfig())


def score_samples(
    samples: Iterable[Sample], complete: Callable[[Sample], list[str]], cfg: RewardConfig,
) -> EvalReport:
    """Score what `complete` writes for each sample (one record's frames at a time)."""
    rows: list[dict[str, float]] = []
    per_task: dict[str, list[dict[str, float]]] = defaultdict(list)
    report = EvalReport()
    for sample in samples:
        for text in complete(sample):
            scores = score_all(text, sample.annotation, cfg)
            rows.append(scores)
            per_task[sample.task].append(scores)
            report.texts.append(text)
            report.tasks.append(sample.task)
            if len(report.examples) < 3:
                report.examples.append(text)
    report.n, report.means, report.rows = len(rows), _mean(rows), rows
    report.by_task = {task: _mean(r) for task, r in sorted(per_task.items())}
    return report


def format_report(report: EvalReport, title: str = "") -> str:
    head = f"{title} (n={report.n})" if title else f"n={report.n}"
    lines = [head, "  " + "  ".join(f"{t}={report.means.get(t, 0):.3f}" for t in TERMS)
             + f"  total={report.total:.3f}"]
    for task, means in report.by_task.items():
        lines.append(f"  {task:<32}" + "  ".join(f"{t[:4]}={means[t]:.2f}" for t in TERMS))
    return "\n".join(lines)
