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
from training.evaluate import TERMS, EvalReport, evaluate, format_report


def _prepare(work: Path, n_train: int, n_eval: int) -> tuple[Path, Path, Path]:
    from training.synth import generate
    from training.tiny import build_tiny_checkpoint

    train, heldout = work / "data" / "train", work / "data" / "heldout"
    if not (train / "STGR-RL.json").exists():
        generate(train, n_train, seed=0)
    if not (heldout / "STGR-RL.json").exists():
        generate(heldout, n_eval, seed=1)
    tiny = work / "tiny-model"
    if not (tiny / "config.json").exists():
        build_tiny_checkpoint(tiny, seed=0)
    return train, heldout, tiny


def _config(name: str, overrides: list[str], train: Path, tiny: Path) -> RunConfig:
    base = [f"model={tiny}", f"data.sft_json={train / 'STGR-SFT.json'}",
            f"data.rl_json={train / 'STGR-RL.json'}"]
    return load_config(name, [*base, *overrides])


def run_ablation(
    work: Path, config: str = "tiny-cpu", overrides: list[str] | None = None,
    n_train: int = 240, n_eval: int = 60,
) -> int:
    from training.metrics import jsonl_metrics_callback
    from training.rl import run_rl
    from training.sft import run_sft

    train, heldout, tiny = _prepare(work, n_train, n_eval)
    cfg = _config(config, overrides or [], train, tiny)
    timings: dict[str, float] = {}
    t0 = time.perf_counter()
    sft = run_sft(cfg, output_dir=work / "sft",
                  callbacks=[jsonl_metrics_callback(work / "sft" / "metrics.jsonl")])
    timings["sft"] = time.perf_counter() - t0
    checkpoints = {"SFT only": sft}
    for label, level in (("SFT+GRPO", "token"), ("SFT+GSPO", "sequence")):
        run_cfg = _config(config, [*(overrides or []), f"rl.importance_sampling_level={level}"],
                          train, tiny)
        out = work / label.lower().replace("+", "_")
        t0 = time.perf_counter()
        checkpoints[label] = run_rl(run_cfg, model=str(sft), output_dir=out,
                                    callbacks=[jsonl_metrics_callback(out / "metrics.jsonl")])
        timings[label] = time.perf_counter() - t0
    greedy = SamplingParams(temperature=0.0, max_tokens=cfg.rl.max_completion_length, seed=0)
    reports = {label: evaluate(path, heldout / "STGR-RL.json", cfg.data,
                               rewards=cfg.rl.rewards, sampling=greedy)
               for label, path in checkpoints.items()}
    print(ablation_table(reports))
    for label, report in reports.items():
        print(format_report(report, label))
    _save(work, reports, timings)
    return 0


def ablation_table(reports: dict[str, EvalReport]) -> str:
    head = f"{'run':<10} " + " ".join(f"{t:>9}" for t in TERMS) + f" {'total':>7}"
    rows = [f"{label:<10} " + " ".join(f"{r.means.get(t, 0):9.3f}" for t in TERMS)
            + f" {r.total:7.3f}" for label, r in reports.items()]
    return "\n".join([head, *rows])


def _save(work: Path, reports: dict[str, EvalReport], timings: dict[str, float]) -> None:
    data = {label: {"n": r.n, "means": r.means, "by_task": r.by_task, "examples": r.examples}
            for label, r in reports.items()}
    (work / "ablation.json").write_text(json.dumps({"results": data, "seconds": timings},
                                                   indent=2))
