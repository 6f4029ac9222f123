"""`python -m training sft|rl|synth|tiny|eval|ablation ...`: the training command line.

Each subcommand reads top to bottom: load a config file (name in training/configs or a
path) with `--set section.key=value` overrides, run one stage, print where the result
is. Metrics go to the console (TRL's tqdm progress + log dicts) and to
`<output>/metrics.jsonl`.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from training.config import load_config


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", default="tiny-cpu", help="config name or path (training/configs)")
    p.add_argument("--set", dest="overrides", action="append", default=[],
                   metavar="KEY=VALUE", help="override, e.g. --set rl.beta=0.0 (repeatable)")
    p.add_argument("--model", help="start from this checkpoint (default: config's model)")
    p.add_argument("--out", type=Path, help="output checkpoint directory")


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m training", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    _common(sub.add_parser("sft", help="stage 1: supervised fine-tuning"))
    _common(sub.add_parser("rl", help="stage 2: GSPO with grounded rewards"))
    synth = sub.add_parser("synth", help="write synthetic STGR data (videos + JSON)")
    synth.add_argument("out", type=Path)
    synth.add_argument("--n", type=int, default=200, help="number of records")
    synth.add_argument("--seed", type=int, default=0)
    synth.add_argument("--recipe", default="default",
                       help="scene recipe: default, cue, grid, slots")
    tiny = sub.add_parser("tiny", help="build the tiny random checkpoint (service.inference.tiny)")
    tiny.add_argument("rest", nargs=argparse.REMAINDER)
    ev = sub.add_parser("eval", help="score a checkpoint on held-out records")
    ev.add_argument("checkpoint", type=Path)
    ev.add_argument("--data", help="STGR JSON (default: config's data.eval_json)")
    ev.add_argument("--config", default="tiny-cpu")
    ev.add_argument("--set", dest="overrides", action="append", default=[])
    ev.add_argument("--max-tokens", type=int, default=128)
    abl = sub.add_parser("ablation", help="baselines, SFT only / SFT+GRPO / SFT+GSPO per seed")
    abl.add_argument("--work", type=Path, default=Path("artifacts/ablation"))
    abl.add_argument("--config", default="cpu-ablation")
    abl.add_argument("--size", default="small", help="random model size (service.inference.tiny)")
    abl.add_argument("--tasks", help="comma-separated STGR task names (default: all six)")
    abl.add_argument("--set", dest="overrides", action="append", default=[])
    abl.add_argument("--n-train", type=int, default=240)
    abl.add_argument("--n-eval", type=int, default=60)
    abl.add_argument("--recipe", default="default",
                     help="synthetic scene recipe (training.synth_records.RECIPES): "
                     "default, cue, grid")
    abl.add_argument("--seeds", default="0", help="comma-separated training seeds (e.g. 0,1,2)")
    abl.add_argument("--merge", type=Path, action="append", default=[], metavar="WORK",
                     help="only merge the seeds of another --work run (same data) and print")
    return parser


def _stage(args: argparse.Namespace) -> int:
    from training.metrics import jsonl_metrics_callback

    cfg = load_config(args.config, args.overrides)
    stage = args.command
    out = args.out or Path(cfg.output_dir) / stage
    callbacks = [jsonl_metrics_callback(out / "metrics.jsonl")]
    if stage == "sft":
        from training.sft import run_sft

        path = run_sft(cfg, model=args.model, output_dir=out, callbacks=callbacks)
    else:
        from training.rl import run_rl

        path = run_rl(cfg, model=args.model, output_dir=out, callbacks=callbacks)
    if int(os.environ.get("RANK", "0")) == 0:  # one line per run, not one per process
        print(json.dumps({"stage": stage, "checkpoint": str(path),
                          "metrics": str(out / "metrics.jsonl")}))
    return 0


def _synth(args: argparse.Namespace) -> int:
    from training.synth_records import generate

    records = generate(args.out, args.n, seed=args.seed, recipe=args.recipe)
    print(json.dumps({"out": str(args.out), "records": len(records),
                      "sft": str(args.out / "STGR-SFT.json"),
                      "rl": str(args.out / "STGR-RL.json")}))
    return 0


def _eval(args: argparse.Namespace) -> int:
    from service.inference.backend import SamplingParams
    from training.evaluate import evaluate, format_report

    cfg = load_config(args.config, args.overrides)
    data = args.data or cfg.data.eval_json
    if not data:
        print("no held-out data: pass --data or set data.eval_json", file=sys.stderr)
        return 2
    sampling = SamplingParams(temperature=0.0, max_tokens=args.max_tokens, seed=0)
    report = evaluate(args.checkpoint, data, cfg.data, rewards=cfg.rl.rewards, sampling=sampling)
    print(format_report(report, str(args.checkpoint)))
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if args.command in ("sft", "rl"):
        return _stage(args)
    if args.command == "synth":
        return _synth(args)
    if args.command == "tiny":
        from service.inference.tiny import main as tiny_main

        return int(tiny_main(args.rest) or 0)
    if args.command == "eval":
        return _eval(args)
    from training.ablation import merge_ablations, run_ablation

    if args.merge:
        print(merge_ablations(args.work, args.merge))
        return 0
    tasks = tuple(t.strip() for t in args.tasks.split(",")) if args.tasks else None
    seeds = tuple(int(s) for s in args.seeds.split(","))
    return run_ablation(args.work, args.config, args.overrides, args.n_train, args.n_eval,
                        args.size, tasks, seeds, args.recipe)


if __name__ == "__main__":
    sys.exit(main())
