"""Benchmark: the pipeline's CPU work after sampling (parse + vote + evidence merge).

Run: `python -m bench.pipeline_bench [--repeat 2000]`

Eight realistic traces of one multiple-choice request (several evidence mentions each,
a few with the defects real outputs have: missing </think>, swapped corners, a box past
the frame edge, `at <t>` spacing, float boxes, a time past the end, one unvotable
trace) are parsed with the real parser, voted (confidence mode, verifier-like weights)
and their evidence merged, exactly as `Pipeline.run` does after the backend call.
Prints the median and p90 per stage and in total, and the total's ratio to the target
(under 1 ms per request).

Second, side by side: the verifier's 8 scoring calls against a backend that takes
`--score-delay` seconds per call (the ScriptedBackend double, 50 ms by default), made
one at a time (max_concurrency=1) and concurrently (the default bound, 8); prints both
wall times and their ratio (ideal 1/8; target <= 0.25).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import time
from collections.abc import Callable

from PIL import Image

from service.grounding.parser import parse_trace
from service.grounding.types import FrameSetMeta, ParsedTrace, TaskType
from service.grounding.voting import VotingMode, vote
from service.inference.doubles import ScriptedBackend
from service.inference.evidence import merge_evidence
from service.inference.verifier import verify
from service.video.frameset import FrameSet

TARGET_S = 1e-3
META = FrameSetMeta(
    times=tuple(round(i * 33.4 / 16, 1) for i in range(16)),
    fed_size=(420, 224),
    orig_size=(1280, 720),
    duration=33.4,
)
WEIGHTS = (1.0, 1.0, 0.6, 1.0, 0.2, 0.6, 0.2, 0.0)

TRACES = (
    "<think>The man <obj>man</obj><box>[249,60,395,212]</box>at<t>9.0</t>s walks to the "
    "table where a <obj>cup</obj><box>[120,140,160,190]</box>at<t>10.4</t>s stands. Later "
    "<obj>man</obj><box>[251,58,392,215]</box>at<t>12.5</t>s lifts the "
    "<obj>cup</obj><box>[130,120,170,170]</box>at<t>12.5</t>s.</think>\n<answer>C</answer>",
    "<think>At first <obj>man</obj><box>[245,62,398,210]</box>at<t>8.4</t>s enters. The "
    "<obj>cup</obj><box>[118,142,161,188]</box>at<t>10.4</t>s is on the "
    "<obj>table</obj><box>[60,150,300,224]</box>at<t>10.4</t>s. He holds it "
    "<obj>cup</obj><box>[128,118,172,171]</box>at<t>12.5</t>s.</think>\n<answer>(C)</answer>",
    "<think>The <obj>man</obj><box>[395,60,249,212]</box>at <t>9.0</t>s (corners swapped) "
    "reaches for <obj>cup</obj><box>[121.5,139.0,159.5,191.0]</box>at<t>10.4</t>s and "
    "<obj>phone</obj><box>[400,100,460,140]</box>at<t>14.6</t>s sits nearby.\n"
    "<answer>C</answer>",
    "<think><obj>man</obj><box>[250,61,394,213]</box>at<t>10.4</t>s and the "
    "<obj>cup</obj><box>[119,141,160,189]</box>at<t>10.4</t>s; then "
    "<obj>man</obj><box>[252,60,390,214]</box>at<t>12.5</t>s drinks from "
    "<obj>cup</obj><box>[131,121,169,168]</box>at<t>12.5</t>s.</think>\n<answer>C. a cup</answer>",
    "<think>I see a <obj>phone</obj><box>[402,98,458,142]</box>at<t>14.6</t>s on the "
    "<obj>table</obj><box>[58,148,302,224]</box>at<t>14.6</t>s and a "
    "<obj>man</obj><box>[240,50,390,220]</box>at<t>16.7</t>s.</think>\n<answer>B</answer>",
    "<think>The <obj>man</obj><box>[248,59,396,211]</box>at<t>9.0</t>s picks up the "
    "<obj>phone</obj><box>[401,99,459,141]</box>at<t>14.6</t>s; later "
    "<obj>phone</obj><box>[300,80,350,120]</box>at<t>40.0</t>s.</think>\n<answer>B</answer>",
    "<think>The <obj>cup</obj><box>[122,138,158,192]</box>at<t>10.4</t>s is "
    "<obj>cup</obj><box>[129,119,171,169]</box>at<t>12.5</t>s lifted by "
    "<obj>man</obj><box>[249,60,395,212]</box>at<t>12.5</t>s</think>\n<answer>A</answer>"
    "<answer>C</answer>",
    "The answer is probably C because the man has something in his hand.",
)


def run_once() -> tuple[float, float, float]:
    """One request's post-sampling work; returns the seconds per stage."""
    t0 = time.perf_counter()
    parsed: list[ParsedTrace] = [
        parse_trace(text, task=TaskType.MCQ, fed_size=META.fed_size, duration=META.duration,
                    n_options=4)
        for text in TRACES
    ]
    t1 = time.perf_counter()
    outcome = vote(parsed, WEIGHTS, task=TaskType.MCQ, mode=VotingMode.CONFIDENCE)
    t2 = time.perf_counter()
    merge_evidence(parsed, outcome.winner_traces, META)
    t3 = time.perf_counter()
    return t1 - t0, t2 - t1, t3 - t2


def _stats(xs: list[float]) -> tuple[float, float]:
    ordered = sorted(xs)
    return statistics.median(ordered), ordered[int(0.9 * (len(ordered) - 1))]


def main(argv: list[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    ap.add_argument("--repeat", type=int, default=2000)
    ap.add_argument("--score-delay", type=float, default=0.05)
    args = ap.parse_args(argv)
    for _ in range(50):  # warm-up: regex compilation, imports, caches
        run_once()
    runs = [run_once() for _ in range(args.repeat)]
    _report(runs, _describe())
    _report_verify(args.score_delay)


def _verify_wall(delay: float, bound: int) -> float:
    """Seconds to verify 8 traces that each cite evidence, `bound` calls at a time."""
    frames = FrameSet([Image.new("RGB", META.fed_size)] * len(META.times), META)
    parsed = [parse_trace(TRACES[i], task=TaskType.MCQ, fed_size=META.fed_size,
                          duration=META.duration, n_options=4) for i in (0, 1, 3, 5) * 2]
    backend = ScriptedBackend(scores=["2"], delay=delay)
    t0 = time.perf_counter()
    asyncio.run(verify(backend, frames, "What does the man lift?", parsed,
                       max_concurrency=bound))
    return time.perf_counter() - t0


def _report_verify(delay: float) -> None:
    one, eight = _verify_wall(delay, 1), _verify_wall(delay, 8)
    verdict = "PASS" if eight / one <= 0.25 else "FAIL"
    print(f"verify 8 traces, {delay * 1e3:.0f} ms per scoring call: sequential "
          f"{one * 1e3:.1f} ms, concurrent {eight * 1e3:.1f} ms, "
          f"ratio {eight / one:.3f} (ideal 0.125, target <= 0.25) [{verdict}]")


def _describe() -> str:
    parsed = [parse_trace(t, task=TaskType.MCQ, fed_size=META.fed_size, duration=META.duration,
                          n_options=4) for t in TRACES]
    outcome = vote(parsed, WEIGHTS, task=TaskType.MCQ, mode=VotingMode.CONFIDENCE)
    merged = merge_evidence(parsed, outcome.winner_traces, META)
    mentions = sum(len(p.evidence) for p in parsed)
    defects = sum(len(p.defects) for p in parsed)
    return (f"8 traces, {mentions} evidence mentions, {defects} parser defects; winner "
            f"{outcome.winner} (confidence {outcome.confidence:.2f}), "
            f"{len(merged)} merged evidence items")


def _report(runs: list[tuple[float, float, float]], description: str) -> None:
    stages: dict[str, Callable[[tuple[float, float, float]], float]] = {
        "parse x8": lambda r: r[0],
        "vote": lambda r: r[1],
        "evidence merge": lambda r: r[2],
        "total": lambda r: sum(r),
    }
    print(f"pipeline_bench: {description}; {len(runs)} runs; load average {os.getloadavg()}")
    print(f"{'stage':<16}{'median ms':>12}{'p90 ms':>10}")
    for name, pick in stages.items():
        med, p90 = _stats([pick(r) for r in runs])
        print(f"{name:<16}{med * 1e3:>12.4f}{p90 * 1e3:>10.4f}")
    total = _stats([sum(r) for r in runs])[0]
    verdict = "PASS" if total < TARGET_S else "FAIL"
    print(f"total median / target (1 ms) = {total / TARGET_S:.3f}  [{verdict}]")


if __name__ == "__main__":
    main()
