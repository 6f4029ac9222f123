"""The paper's ablation in miniature, with baselines and seeds, on synthetic STGR.

Owns `run_ablation`: generate train and held-out synthetic sets (different data seeds),
build the random checkpoint, then score on the held-out set, with greedy decoding
through the service's local backend and prompts built exactly as the service builds
them (no key frames or other annotations):

- `constant`: one fixed trace per task from training statistics (`training.baselines`:
  training-mean span and box, most frequent letter and answer) - what ignoring the video
  scores; `constant (mode)`: the most frequent span and box instead (stronger when
  answers sit on a grid);
- `untrained`: the random checkpoint before any training;
- per seed (`sft.seed` = `rl.seed` = seed): `SFT only`, then from that SFT checkpoint
  `SFT+GRPO` (token-level ratios, clip 0.2) and `SFT+GSPO` (sequence-level ratios, the
  config's clip), everything else equal.

`<work>/ablation.json` holds every report (per-record scores and completions), training
seconds, and the summary; it is rewritten after each row, and a stage whose checkpoint
exists is reused, so a run cut short keeps what it finished and can be resumed.

This is CPU-scale evidence about the code path, not a reproduction of the paper.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from service.inference.backend import SamplingParams
from training.config import RunConfig, load_config
from training.evaluate import TERMS, EvalReport, evaluate, format_report, paired_delta

ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SFT only", ()),
    # GRPO: token-level ratios with its usual clip range (0.2, as in the released code)
    ("SFT+GRPO", ("rl.importance_sampling_level=token", "rl.epsilon=0.2",
                  "rl.epsilon_high=0.2")),
    # GSPO: sequence-level ratios with the config's (paper) clip range 3e-4 / 4e-4
    ("SFT+GSPO", ("rl.importance_sampling_level=sequence",)),
)
"""The trained rows; everything not named here comes from the config and `--set`."""

BASELINES = ("constant", "constant (mode)", "untrained")


def _prepare(
    work: Path, n_train: int, n_eval: int, size: str, tasks: tuple[str, ...],
    recipe: str = "default",
) -> tuple[Path, Path, Path]:
    from service.inference.tiny import build_tiny_checkpoint
    from training.synth_records import generate

    train, heldout = work / "data" / "train", work / "data" / "heldout"
    if not (train / "STGR-RL.json").exists():
        generate(train, n_train, seed=0, tasks=tasks, recipe=recipe)
    if not (heldout / "STGR-RL.json").exists():
        generate(heldout, n_eval, seed=1, tasks=tasks, recipe=recipe)
    tiny = work / "tiny-model"
    if not (tiny / "config.json").exists():
        build_tiny_checkpoint(tiny, seed=0, size=size)
    return train, heldout, tiny


def _config(name: str, overrides: Sequence[str], train: Path, tiny: Path) -> RunConfig:
    base = [f"model={tiny}", f"data.sft_json={train / 'STGR-SFT.json'}",
            f"data.rl_json={train / 'STGR-RL.json'}"]
    return load_config(name, [*base, *overrides])


def run_ablation(
    work: Path, config: str = "cpu-ablation", overrides: list[str] | None = None,
    n_train: int = 240, n_eval: int = 60, size: str = "small",
    tasks: tuple[str, ...] | None = None, seeds: Sequence[int] = (0,),
    recipe: str = "default",
) -> int:
    """Score the baselines, then train and score the three rows for each seed."""
    from training.baselines import evaluate_constant
    from training.synth_records import TASK_ORDER

    train, heldout, tiny = _prepare(work, n_train, n_eval, size, tasks or TASK_ORDER, recipe)
    cfg = _config(config, overrides or [], train, tiny)
    greedy = SamplingParams(temperature=0.0, max_tokens=cfg.rl.max_completion_length, seed=0)
    state = Results(work)
    state.load()  # a resumed run reuses every report it already wrote
    for label, stat, key in (("constant", "mean", "traces"),
                             ("constant (mode)", "mode", "modal_traces")):
        if label not in state.baselines:
            report, traces = evaluate_constant(train / "STGR-RL.json",
                                               heldout / "STGR-RL.json", cfg.data,
                                               cfg.rl.rewards, stat=stat)
            state.add(None, label, report, extra={key: traces})
    if "untrained" not in state.baselines:
        state.add(None, "untrained", evaluate(tiny, heldout / "STGR-RL.json", cfg.data,
                                              rewards=cfg.rl.rewards, sampling=greedy))
    for seed in seeds:
        seeded = [*(overrides or []), f"sft.seed={seed}", f"rl.seed={seed}"]
        sft = work / f"seed{seed}" / "sft"
        for label, extra in ROWS:
            run_cfg = _config(config, [*extra, *seeded], train, tiny)
            out = work / f"seed{seed}" / label.lower().replace("+", "_") if extra else sft
            if label in state.seeded.get(seed, {}) and (out / "training_config.json").exists():
                continue  # trained and scored by an earlier run
            seconds = None
            if not (out / "training_config.json").exists():  # else reused: no time to record
                t0 = time.perf_counter()
                _train(run_cfg, out, sft if extra else None)
                seconds = time.perf_counter() - t0
            report = evaluate(out, heldout / "STGR-RL.json", cfg.data, rewards=cfg.rl.rewards,
                              sampling=greedy)
            state.add(seed, label, report, seconds=seconds)
    print(summary_table(state.baselines, state.seeded))
    return 0


def merge_ablations(work: Path, others: Sequence[Path]) -> str:
    """Add the seeded reports of other work directories (seeds run in parallel there on
    the same data and checkpoint) to `<work>/ablation.json`; return the summary table."""
    state = Results(work)
    state.load()
    for other in others:
        more = Results(other)
        more.load()
        for seed, rows in more.seeded.items():
            state.seeded.setdefault(seed, {}).update(rows)
        state.seconds.update({f"{other.name}:{k}": v for k, v in more.seconds.items()})
    state.save()
    return summary_table(state.baselines, state.seeded)


def _train(cfg: RunConfig, out: Path, start: Path | None) -> Path:
    """SFT from the config's model (start None) or RL from the `start` checkpoint."""
    from training.metrics import jsonl_metrics_callback

    callbacks = [jsonl_metrics_callback(out / "metrics.jsonl")]
    if start is None:
        from training.sft import run_sft

        return run_sft(cfg, output_dir=out, callbacks=callbacks)
    from training.rl import run_rl

    return run_rl(cfg, model=str(start), output_dir=out, callbacks=callbacks)


# ---- results, summary -------------------------------------------------------------------


class Results:
    """Every report so far, written to `<work>/ablation.json` after each one."""

    def __init__(self, work: Path) -> None:
        self.work = work
        self.baselines: dict[str, EvalReport] = {}
        self.seeded: dict[int, dict[str, EvalReport]] = {}
        self.seconds: dict[str, float] = {}
        self.extra: dict[str, Any] = {}

    def load(self) -> None:
        """Reports, seconds and extras of an earlier run of the same `work` directory."""
        path = self.work / "ablation.json"
        if not path.exists():
            return
        data = json.loads(path.read_text())
        self.baselines = {k: _report_from(v) for k, v in data.get("baselines", {}).items()}
        self.seeded = {int(s): {k: _report_from(v) for k, v in rows.items()}
                       for s, rows in data.get("seeds", {}).items()}
        self.seconds = data.get("seconds", {})
        self.extra = {k: v for k, v in data.items()
                      if k not in ("baselines", "seeds", "seconds", "summary")}

    def add(self, seed: int | None, label: str, report: EvalReport,
            seconds: float | None = None, extra: dict[str, Any] | None = None) -> None:
        name = label if seed is None else f"seed{seed}/{label}"
        if seed is None:
            self.baselines[label] = report
        else:
            self.seeded.setdefault(seed, {})[label] = report
        if seconds is not None:
            self.seconds[name] = seconds
        self.extra.update(extra or {})
        print(format_report(report, name), flush=True)
        self.save()

    def save(self) -> None:
        data = {
            "baselines": {k: _report_dict(r) for k, r in self.baselines.items()},
            "seeds": {str(s): {k: _report_dict(r) for k, r in rows.items()}
                      for s, rows in self.seeded.items()},
            "seconds": self.seconds, "summary": summary_table(self.baselines, self.seeded),
            **self.extra,
        }
        (self.work / "ablation.json").write_text(json.dumps(data, indent=1))


def _report_dict(r: EvalReport) -> dict[str, Any]:
    return {"n": r.n, "means": r.means, "by_task": r.by_task, "rows": r.rows,
            "texts": r.texts, "tasks": r.tasks}


def _report_from(d: dict[str, Any]) -> EvalReport:
    return EvalReport(n=d["n"], means=d["means"], by_task=d["by_task"], rows=d["rows"],
                      texts=d.get("texts", []), tasks=d.get("tasks", []))


def seed_mean(reports: Sequence[EvalReport]) -> EvalReport:
    """One report whose per-record scores are the mean over seeds (same records)."""
    n = len(reports[0].rows)
    rows = [{t: sum(r.rows[i][t] for r in reports) / len(reports) for t in TERMS}
            for i in range(n)]
    means = {t: sum(row[t] for row in rows) / n for t in TERMS} if n else {}
    tasks = reports[0].tasks
    by_task: dict[str, dict[str, float]] = {}
    for task in sorted(set(tasks)):
        mine = [row for row, k in zip(rows, tasks, strict=True) if k == task]
        by_task[task] = {t: sum(r[t] for r in mine) / len(mine) for t in TERMS}
    return EvalReport(n=n, means=means, by_task=by_task, rows=rows, tasks=list(tasks))


def _delta(base: EvalReport, other: EvalReport, terms: Sequence[str]) -> str:
    mean, se = paired_delta(base, other, terms)
    return f"{mean:+.3f} +- {se:.3f}"


def summary_table(
    baselines: dict[str, EvalReport], seeded: dict[int, dict[str, EvalReport]]
) -> str:
    """Markdown: each row's mean terms (trained rows: mean over seeds, per-record), each
    task's accuracy, and paired changes (mean +- SE over held-out records) in total and in
    accuracy against the constant baseline and, for RL rows, against SFT only; plus the
    accuracy change against the modal constant when it was scored."""
    rows: dict[str, EvalReport] = dict(baselines)
    n_seeds: dict[str, int] = {}
    for label, _ in ROWS:
        got = [r[label] for r in seeded.values() if label in r]
        if got:
            rows[label], n_seeds[label] = seed_mean(got), len(got)
    tasks = sorted({t for r in rows.values() for t in r.by_task})
    head = ["run", "seeds", *TERMS, "total", *(f"acc: {t}" for t in tasks),
            "total vs constant", "accuracy vs constant", "total vs SFT", "accuracy vs SFT"]
    modal = rows.get("constant (mode)")
    if modal is not None:
        head.append("accuracy vs constant (mode)")
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    base, sft = rows.get("constant"), rows.get("SFT only")
    for label, r in rows.items():
        cells = [label, str(n_seeds.get(label, "-")),
                 *(f"{r.means.get(t, 0):.3f}" for t in TERMS), f"{r.total:.3f}",
                 *(f"{r.by_task.get(t, {}).get('accuracy', float('nan')):.3f}" for t in tasks)]
        for ref in (base, sft):
            ok = ref is not None and ref is not r and len(ref.rows) == len(r.rows) and r.rows
            if ref is sft and (label in baselines or label == "SFT only"):
                ok = False
            cells += ([_delta(ref, r, TERMS), _delta(ref, r, ("accuracy",))]  # type: ignore[arg-type]
                      if ok else ["", ""])
        if modal is not None:
            trained = label in n_seeds and len(modal.rows) == len(r.rows)
            cells.append(_delta(modal, r, ("accuracy",)) if trained else "")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def ablation_table(reports: dict[str, EvalReport]) -> str:
    """One row per run: each reward's mean, the total, and the paired change in total
    against the first row (mean +- standard error over the same held-out records)."""
    head = (f"{'run':<10} " + " ".join(f"{t:>9}" for t in TERMS)
            + f" {'total':>7} {'delta vs first (+-SE)':>22}")
    base = next(iter(reports.values()), None)
    rows = []
    for label, r in reports.items():
        line = (f"{label:<10} " + " ".join(f"{r.means.get(t, 0):9.3f}" for t in TERMS)
                + f" {r.total:7.3f}")
        if base is not None and r is not base and r.rows and len(r.rows) == len(base.rows):
            mean, se = paired_delta(base, r)
            line += f" {mean:+14.3f} +- {se:.3f}"
        rows.append(line)
    return "\n".join([head, *rows])
