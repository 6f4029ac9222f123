"""The paper's ablation in miniature: SFT only / SFT+GRPO / SFT+GSPO on synthetic STGR.

Owns `run_ablation`: generate train and held-out synthetic sets (different seeds), build
the tiny checkpoint, run SFT once, then RL twice from the same SFT checkpoint (token-level
ratios = GRPO; sequence-level = GSPO; everything else equal), evaluate all three on the
held-out set with greedy decoding through the service's local backend, and print a
table shaped like SPEC 5's ablation. Results go to `<work>/ablation.json`.

This is CPU-scale evidence about the CODE PATH (do the rewards move in the right
direction?), not a reproduction of the paper's numbers. The effect may well be null.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

from service.inference.backend import SamplingParams
from training.config import RunConfig, load_config
from training.evaluate import TERMS, EvalReport, evaluate, format_report, paired_delta


def _prepare(
    work: Path, n_train: int, n_eval: int, size: str, tasks: tuple[str, ...]
) -> tuple[Path, Path, Path]:
    from service.inference.tiny import build_tiny_checkpoint
    from training.synth_records import generate

    train, heldout = work / "data" / "train", work / "data" / "heldout"
    if not (train / "STGR-RL.json").exists():
        generate(train, n_train, seed=0, tasks=tasks)
    if not (heldout / "STGR-RL.json").exists():
        generate(heldout, n_eval, seed=1, tasks=tasks)
    tiny = work / "tiny-model"
    if not (tiny / "config.json").exists():
        build_tiny_checkpoint(tiny, seed=0, size=size)
    return train, heldout, tiny


def _config(name: str, overrides: list[str], train: Path, tiny: Path) -> RunConfig:
    base = [f"model={tiny}", f"data.sft_json={train / 'STGR-SFT.json'}",
            f"data.rl_json={train / 'STGR-RL.json'}"]
    return load_config(name, [*base, *overrides])


ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("SFT only", ()),
    # GRPO: token-level ratios with its usual clip range (0.2, as in the released code)
    ("SFT+GRPO", ("rl.importance_sampling_level=token", "rl.epsilon=0.2",
                  "rl.epsilon_high=0.2")),
    # GSPO: sequence-level ratios with the config's (paper) clip range 3e-4 / 4e-4
    ("SFT+GSPO", ("rl.importance_sampling_level=sequence",)),
)
"""The three rows; everything not named here comes from the config and `--set`."""


def run_ablation(
    work: Path, config: str = "cpu-ablation", overrides: list[str] | None = None,
    n_train: int = 240, n_eval: int = 60, size: str = "small",
    tasks: tuple[str, ...] | None = None,
) -> int:
    """Train and score the three rows; a stage whose checkpoint exists is reused (resume).

    Each row is scored right after its stage and `ablation.json` rewritten, so a run cut
    short still leaves the rows it finished.
    """
    from training.synth_records import TASK_ORDER

    train, heldout, tiny = _prepare(work, n_train, n_eval, size, tasks or TASK_ORDER)
    cfg = _config(config, overrides or [], train, tiny)
    greedy = SamplingParams(temperature=0.0, max_tokens=cfg.rl.max_completion_length, seed=0)
    reports: dict[str, EvalReport] = {}
    timings: dict[str, float] = {}
    sft = work / "sft"
    for label, extra in ROWS:
        run_cfg = _config(config, [*extra, *(overrides or [])], train, tiny)
        out = work / label.lower().replace("+", "_") if extra else sft
        if not (out / "training_config.json").exists():  # else reused: no time to record
            t0 = time.perf_counter()
            _train(run_cfg, out, sft if extra else None)
            timings[label] = time.perf_counter() - t0
        reports[label] = evaluate(out, heldout / "STGR-RL.json", cfg.data,
                                  rewards=cfg.rl.rewards, sampling=greedy)
        print(format_report(reports[label], label), flush=True)
        _save(work, reports, timings, cfg)
    print(ablation_table(reports))
    return 0


def _train(cfg: RunConfig, out: Path, start: Path | None) -> Path:
    """SFT from the config's model (start None) or RL from the `start` checkpoint."""
    from training.metrics import jsonl_metrics_callback

    callbacks = [jsonl_metrics_callback(out / "metrics.jsonl")]
    if start is None:
        from training.sft import run_sft

        return run_sft(cfg, output_dir=out, callbacks=callbacks)
    from training.rl import run_rl

    return run_rl(cfg, model=str(start), output_dir=out, callbacks=callbacks)


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


def _save(work: Path, reports: dict[str, EvalReport], timings: dict[str, float],
          cfg: RunConfig) -> None:
    data = {label: {"n": r.n, "means": r.means, "by_task": r.by_task, "examples": r.examples,
                    "rows": r.rows}
            for label, r in reports.items()}
    base = next(iter(reports.values()))
    deltas = {label: dict(zip(("mean", "se"), paired_delta(base, r), strict=True))
              for label, r in list(reports.items())[1:] if len(r.rows) == len(base.rows)}
    seeds = {"sft": cfg.sft.seed, "rl": cfg.rl.seed, "train_data": 0, "heldout_data": 1}
    (work / "ablation.json").write_text(json.dumps(
        {"results": data, "paired_delta_total": deltas, "seconds": timings, "seeds": seeds},
        indent=2))
