"""`python -m clients.bench vstar|mcq|tvg ...`: one command per benchmark.

Each command reads the benchmark's own files, asks the gateway at `--base-url`,
appends per-sample records to `OUT/records.jsonl` (running the same command again
resumes: finished samples are not asked again, failed ones are retried) and writes
`OUT/summary.json` and `OUT/report.md` (and plots for V-STAR), printing the report.
`--report-only` rebuilds the report from the records without asking anything.
Exit status: 0 done, 2 bad arguments or unreadable benchmark files, 3 some samples
failed (the report is still written), 130 interrupted (Ctrl-C: no traceback; what
finished is saved and the same command resumes).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

from clients.bench import mcq, report, tvg, vstar
from clients.bench.datasets import MCQ_FORMATS, DatasetError, load_mcq, load_tvg, load_vstar
from clients.bench.judges import Judge, LenientJudge, OpenAIJudge
from clients.bench.runner import ResultStore
from clients.bench.target import GatewayTarget, RequestOptions
from clients.sdk import AsyncClient

# per benchmark and protocol: n, voting, temperature, num_frames, fps, max_pixels
# (SPEC 1, 4, 6). With both num_frames and fps the gateway samples "at fps, at most
# num_frames" (FramePolicy): V-STAR's setting in the paper is up to 16 frames at 1 fps.
# `release` presets are the release's eval configs (eval/config/*.yaml and
# QwenVL_VLLM: temperature 0, repetition_penalty 1.05, max_tokens 2048 for V-STAR and
# 8192 for the MCQ benchmarks; V-STAR frames near native size, capped by our 1 MP).
Preset = tuple[int, str, float, int | None, float | None, int | None]
DEFAULTS: dict[str, Preset] = {
    "vstar": (1, "single", 0.0, 16, 1.0, None),
    "mcq": (8, "confidence", 1.0, 64, None, 262_144),
    "tvg": (1, "single", 0.0, None, None, None),
}
RELEASE: dict[str, tuple[Preset, float, int, str | None]] = {  # + rep. penalty, max_tokens
    "vstar": ((1, "single", 0.0, 16, 1.0, 1_000_000), 1.05, 2048, None),
    "mcq": ((1, "single", 0.0, 64, None, 262_144), 1.05, 8192, "mcq-video"),
}


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m clients.bench", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="bench", required=True)
    v = _common(sub.add_parser("vstar", help="V-STAR: what/when/where, mAM and mLGM"))
    v.add_argument("--judge-url", help="OpenAI-compatible endpoint of the judge model")
    v.add_argument("--judge-model", default="Qwen/Qwen2.5-72B-Instruct")
    v.add_argument("--judge-api-key", default=os.environ.get("O3_JUDGE_API_KEY", "EMPTY"))
    v.add_argument("--box-source", choices=["auto", "answer", "evidence"], default="auto")
    v.add_argument("--protocol", choices=["release", "serving"], default="release",
                   help="release: each chain step exactly as the release's V-STAR script "
                   "sends it (default); serving: the served prompt with our wording")
    v.add_argument("--no-think", action="store_true",
                   help="the script without --think_mode (release protocol)")
    v.add_argument("--judge-prompt", type=Path,
                   help="file with the judge's system prompt (e.g. the benchmark's own)")
    v.add_argument("--judge-template", type=Path, help="file with the judge's user message, "
                   "with {question}, {truth} and {candidate} placeholders")
    m = _common(sub.add_parser("mcq", help="VideoMME / WorldSense / VideoMMMU, Table 13"))
    m.add_argument("--format", choices=MCQ_FORMATS, required=True)
    m.add_argument("--protocol", choices=["release", "serving"], default="release",
                   help="release: the release's MCQ preset (mcq-video prompt, 64 frames, "
                   "262,144 px, greedy, N=1); serving: the served prompt, N=8 voting")
    m.add_argument("--asr-dir", type=Path, help="folder of `<video file>.txt` transcripts, "
                   "placed whole as the release's VideoMME loader does (release protocol)")
    m.add_argument("--subtitles-dir", type=Path, help="folder of `<video stem>.srt|.vtt` "
                   "files: the cues on screen at the fed frames go into the prompt")
    _common(sub.add_parser("tvg", help="TVGBench: mIoU and R1@0.3/0.5/0.7"))
    return p


def _common(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
    p.add_argument("--data", type=Path, required=True, help="the benchmark's annotation file")
    p.add_argument("--videos", type=Path, required=True, help="folder holding the videos")
    p.add_argument("--out", type=Path, required=True, help="results folder (resumable)")
    p.add_argument("--base-url", default=os.environ.get("O3_BASE_URL", "http://localhost:8000"))
    p.add_argument("--api-key", default=os.environ.get("O3_API_KEY"))
    p.add_argument("--limit", type=int, help="only the first N samples")
    p.add_argument("--concurrency", type=int, default=2, help="samples in flight")
    p.add_argument("--n", type=int, help="sampled traces per request")
    p.add_argument("--voting", choices=["single", "majority", "confidence"])
    p.add_argument("--temperature", type=float)
    p.add_argument("--top-p", type=float, default=1.0)
    p.add_argument("--max-tokens", type=int)
    p.add_argument("--seed", type=int)
    p.add_argument("--num-frames", type=int,
                   help="frames per video; with an fps, the most frames at that rate")
    p.add_argument("--fps", type=float,
                   help="sample at this rate (capped by the frame count); 0: no fixed rate")
    p.add_argument("--max-pixels", type=int)
    p.add_argument("--timeout", type=float, default=600.0, help="seconds per request")
    p.add_argument("--report-only", action="store_true", help="rebuild the report only")
    p.add_argument("--no-progress", action="store_true")
    return p


def request_options(args: argparse.Namespace) -> RequestOptions:
    """The benchmark's defaults, each overridden by its flag; `--fps` alone keeps the
    benchmark's frame count as the cap, `--num-frames` alone keeps its fps (`--fps 0`
    drops it: uniform frames)."""
    release = getattr(args, "protocol", "serving") == "release" and args.bench in RELEASE
    preset, penalty, max_tokens, protocol = (
        RELEASE[args.bench] if release else (DEFAULTS[args.bench], None, None, None))
    n, voting, temp, frames, fps, pixels = preset
    return RequestOptions(
        n=args.n or n, voting=args.voting or voting,
        temperature=temp if args.temperature is None else args.temperature,
        top_p=args.top_p, max_tokens=args.max_tokens or max_tokens, seed=args.seed,
        num_frames=args.num_frames or frames,
        fps=fps if args.fps is None else (args.fps or None),
        max_pixels=args.max_pixels or pixels, repetition_penalty=penalty, protocol=protocol,
        grid="vstar-release" if release and args.bench == "vstar" else None)


def protocol_note(args: argparse.Namespace, opts: RequestOptions) -> str:
    """The report line saying which prompt protocol ran."""
    if args.bench == "vstar":
        what = ("the release's V-STAR script prompts (server protocols vstar-*, "
                f"{'think' if not args.no_think else 'no-think'} mode)"
                if args.protocol == "release" else "the served prompt (rl), our wording")
        return f"> Protocol: `{args.protocol}`: {what}."
    proto = opts.protocol or "rl"
    return f"> Protocol: `{getattr(args, 'protocol', 'serving')}` (server prompt `{proto}`)."


def make_judge(args: argparse.Namespace) -> Judge:
    if args.judge_url:
        kwargs = {}
        if args.judge_prompt:
            kwargs["system_prompt"] = args.judge_prompt.read_text(encoding="utf-8")
        if args.judge_template:
            kwargs["user_template"] = args.judge_template.read_text(encoding="utf-8")
        return OpenAIJudge(args.judge_url, args.judge_model, api_key=args.judge_api_key,
                           **kwargs)
    print("warning: no --judge-url: using the OFFLINE lenient string judge; the report "
          "is labelled as such", file=sys.stderr)
    return LenientJudge()


async def run(args: argparse.Namespace) -> int:
    args.out.mkdir(parents=True, exist_ok=True)
    store = ResultStore(args.out / "records.jsonl")
    opts = request_options(args)
    progress = not args.no_progress
    async with AsyncClient(args.base_url, args.api_key, timeout=args.timeout) as client:
        service = GatewayTarget(client)
        if args.bench == "vstar":
            return await _vstar(args, store, service, opts, progress)
        if args.bench == "mcq":
            return await _mcq(args, store, service, opts, progress)
        return await _tvg(args, store, service, opts, progress)


async def _vstar(args: argparse.Namespace, store: ResultStore, service: GatewayTarget,
                 opts: RequestOptions, progress: bool) -> int:
    items = load_vstar(args.data, args.videos)[: args.limit]
    judge = make_judge(args)
    if not args.report_only:
        cfg = vstar.VStarConfig(opts, args.box_source, args.concurrency, progress,
                                args.protocol, not args.no_think)
        await vstar.run_vstar(items, service, judge, store, cfg)
    records = store.load()
    scored = vstar.score_records(items, records)
    summary = vstar.summarize_run(items, store)
    vstar.dump_rows(vstar.per_sample_rows(items, store), args.out / "scores.jsonl")
    failed = _failed(records, [i.key for i in items])
    head = [protocol_note(args, opts),
            *report.notes(offline_judge=judge.offline, tiny=_tiny(records), failed=failed),
            *report.vstar_plots(scored, args.out)]
    _emit(args.out, summary, report.vstar_markdown(summary, judge=judge.name, head=head))
    return 3 if failed else 0


async def _mcq(args: argparse.Namespace, store: ResultStore, service: GatewayTarget,
               opts: RequestOptions, progress: bool) -> int:
    items = load_mcq(args.format, args.data, args.videos)[: args.limit]
    if not args.report_only:
        cfg = mcq.McqConfig(opts, args.concurrency, progress, args.asr_dir, args.subtitles_dir)
        await mcq.run_mcq(items, service, store, cfg)
    records = store.load()
    summary = mcq.summarize_mcq(items, records)
    head = [protocol_note(args, opts), *report.notes(tiny=_tiny(records),
                                                     failed=summary.failed)]
    _emit(args.out, summary, report.mcq_markdown(summary, fmt=args.format, n=opts.n, head=head))
    return 3 if summary.failed else 0


async def _tvg(args: argparse.Namespace, store: ResultStore, service: GatewayTarget,
               opts: RequestOptions, progress: bool) -> int:
    items = load_tvg(args.data, args.videos)[: args.limit]
    if not args.report_only:
        await tvg.run_tvg(items, service, store, tvg.TvgConfig(opts, args.concurrency, progress))
    records = store.load()
    summary, groups = tvg.summarize_run(items, records)
    failed = _failed(records, [i.key for i in items])
    head = report.notes(tiny=_tiny(records), failed=failed)
    _emit(args.out, {"overall": asdict(summary), "groups": {k: asdict(g) for k, g in
                                                           groups.items()}},
          report.tvg_markdown(summary, groups, head=head))
    return 3 if failed else 0


def _failed(records: dict[str, dict[str, object]], keys: Sequence[str]) -> int:
    return sum(1 for k in keys if not (records.get(k) or {}).get("ok"))


def _tiny(records: dict[str, dict[str, object]]) -> bool:
    return any(r.get("random_tiny_model") for r in records.values())


def _emit(out: Path, summary: object, markdown: str) -> None:
    report.write_json(summary, out / "summary.json")
    (out / "report.md").write_text(markdown, encoding="utf-8")
    print(markdown)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return asyncio.run(run(args))
    except DatasetError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:  # Ctrl-C: what is saved is kept; say how to go on
        return interrupted(args.out)


def interrupted(out: Path) -> int:
    """The Ctrl-C exit: no traceback, the resume hint, 130 (= 128 + SIGINT)."""
    done = len(ResultStore(out / "records.jsonl").done_keys()) if out.exists() else 0
    print(f"\ninterrupted: {done} finished sample(s) are saved in {out / 'records.jsonl'}; "
          "run the same command again to resume (finished samples are not asked again)",
          file=sys.stderr)
    return 130
