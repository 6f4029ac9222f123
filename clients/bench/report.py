"""Reports: markdown tables (also printed), a JSON summary, and plots.

All numbers are shown x100 with one decimal, next to the paper's where there is one.
A run judged by the offline lenient judge, or answered by a random tiny model, says so
at the top of its report. Plots need matplotlib (the `dev` extra); without it they are
skipped and the report says why.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from clients.bench.mcq import MODES, PAPER_SINGLE, PAPER_TABLE_13, McqSummary
from clients.bench.metrics import AP_THRESHOLDS, TvgSummary, VStarScored, VStarSummary
from clients.bench.tvg import PAPER_MIOU

PAPER_VSTAR = [  # SPEC section 6: Acc, tIoU c1, tIoU c2, vIoU c1, vIoU c2, mAM, mLGM
    ("Open-o3 Video (paper)", 61.0, 24.5, 24.0, 25.4, 6.0, 33.7, 46.6),
    ("Qwen2.5-VL-7B (paper)", 33.5, 15.4, 13.8, 17.0, 2.5, 19.3, 22.4),
    ("GPT-4o (paper)", 60.8, 16.7, 12.8, 6.5, 3.0, 26.8, 38.2),
]


def pct(x: float) -> str:
    return f"{100 * x:.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def notes(*, offline_judge: bool = False, tiny: bool = False, failed: int = 0) -> list[str]:
    out = []
    if offline_judge:
        out.append("> **Judge: offline lenient string judge (fallback), NOT the benchmark's "
                   "LLM judge. Acc is not comparable to published numbers.**")
    if tiny:
        out.append("> **Answered by a random tiny model (smoke run): scores are meaningless.**")
    if failed:
        out.append(f"> {failed} sample(s) failed (see the JSONL `error` fields); they count "
                   "as unanswered. Run the same command again to retry them.")
    return out


# ---- V-STAR ----------------------------------------------------------------------------


def vstar_markdown(s: VStarSummary, *, judge: str, head: Sequence[str] = ()) -> str:
    c1, c2 = s.chains
    ours = ("this run", pct(s.accuracy), pct(c1.m_tiou), pct(c2.m_tiou), pct(c1.m_viou),
            pct(c2.m_viou), pct(s.m_am), pct(s.m_lgm))
    main = table(["model", "Acc", "tIoU c1", "tIoU c2", "vIoU c1", "vIoU c2", "mAM", "mLGM"],
                 [ours, *[(r[0], *(f"{v:.1f}" for v in r[1:])) for r in PAPER_VSTAR]])
    chains = table(
        ["chain", "mtIoU", "R@0.3", "R@0.5", "R@0.7", "mvIoU", "mvIoU (missing skipped)",
         *[f"AP@{t}" for t in AP_THRESHOLDS], "AM", "LGM"],
        [(str(i + 1), pct(c.m_tiou), *(pct(v) for v in c.recall.values()), pct(c.m_viou),
          pct(c.m_viou_skip_missing), *(pct(v) for v in c.ap.values()), pct(c.am), pct(c.lgm))
         for i, c in enumerate(s.chains)])
    groups = table(["group", "answered", "Acc", "mAM", "mLGM"],
                   [(k, str(g.answered), pct(g.accuracy), pct(g.m_am), pct(g.m_lgm))
                    for k, g in s.groups.items()])
    parts = [
        "# V-STAR", *head, f"Judge: {judge}.",
        f"Samples: {s.total}, answered: {s.answered}. Average judge score {s.avg_score:.2f} "
        f"(valid replies {s.avg_valid_score:.2f}).", main, "## Per chain", chains,
        "## Per domain and video length (Acc over the group's answered samples, as eval.py)",
        groups,
    ]
    if s.lgm_clamped:
        parts.append("> A metric reached 1: ln(0) in LGM was clamped to ln(1e-6).")
    return "\n\n".join(parts) + "\n"


def vstar_plots(scored: Sequence[VStarScored], out: Path) -> list[str]:
    """Judge-score distribution and tIoU / vIoU histograms; returns the report lines that
    link them (markdown images next to report.md), or why there are none."""
    plt = _pyplot()
    if plt is None:
        return ["(plots skipped: matplotlib is not installed)"]
    rows = [s for s in scored if s.answered]
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    axes[0].hist([s.judge_score for s in rows], bins=[-1.5, -0.5, 0.5, 1.5, 2.5, 3.5])
    axes[0].set_title("judge score (-1 = unreadable)")
    for ax, name, values in ((axes[1], "tIoU", [s.tiou for s in rows]),
                             (axes[2], "vIoU", [s.viou for s in rows])):
        ax.hist([[v[0] for v in values], [v[1] for v in values]], bins=10, range=(0, 1),
                label=["chain 1", "chain 2"])
        ax.set_title(f"{name} per sample")
        ax.legend()
    fig.tight_layout()
    fig.savefig(out / "vstar_plots.png", dpi=100)
    plt.close(fig)
    # a markdown image link, relative to report.md (written next to it)
    return ["![V-STAR: judge scores, tIoU and vIoU per sample](vstar_plots.png)"]


def _pyplot() -> Any:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return None
    return plt


# ---- MCQ / TVG -------------------------------------------------------------------------


def mcq_markdown(s: McqSummary, *, fmt: str, n: int, head: Sequence[str] = ()) -> str:
    paper = PAPER_TABLE_13.get(fmt)
    rows = [(label, pct(s.accuracy[m]), f"{paper[i]:.1f}" if paper else "-")
            for i, (label, m) in enumerate(zip(
                ("Single pass", "Majority voting", "Confidence voting"), MODES, strict=True))]
    parts = [f"# {fmt} (N = {n}, same traces for every row)", *head,
             table(["aggregation", "this run", "paper (N=8)"], rows)]
    if fmt in PAPER_SINGLE and not paper:
        parts.append(f"Paper single-pass accuracy: {PAPER_SINGLE[fmt]:.1f}.")
    for kind, by_mode in s.by_group.items():
        cats = sorted(by_mode[MODES[0]])
        parts += [f"## by {kind}", table(
            ["category", "count", *MODES],
            [(c, str(by_mode[MODES[0]][c][1]), *(pct(by_mode[m][c][0]) for m in MODES))
             for c in cats])]
    parts.append(f"Questions: {s.total}; failed: {s.failed}; confidence-vote recompute "
                 f"mismatches: {s.recompute_mismatches}.")
    return "\n\n".join(parts) + "\n"


def tvg_markdown(s: TvgSummary, groups: Mapping[str, TvgSummary], head: Sequence[str] = ()
                 ) -> str:
    rows = [("this run", pct(s.m_iou), *(pct(v) for v in s.recall.values()))]
    rows += [(f"{k} (paper)", f"{v:.1f}", "-", "-", "-") for k, v in PAPER_MIOU.items()]
    parts = ["# TVGBench", *head,
             table(["model", "mIoU", "R1@0.3", "R1@0.5", "R1@0.7"], rows),
             "## by category", table(
                 ["category", "count", "mIoU", "R1@0.3", "R1@0.5", "R1@0.7"],
                 [(k, str(g.count), pct(g.m_iou), *(pct(v) for v in g.recall.values()))
                  for k, g in groups.items()])]
    return "\n\n".join(parts) + "\n"


def write_json(obj: Any, path: Path) -> None:
    is_instance = dataclasses.is_dataclass(obj) and not isinstance(obj, type)
    data = dataclasses.asdict(obj) if is_instance else obj
    path.write_text(json.dumps(data, indent=2, default=str), encoding="utf-8")
