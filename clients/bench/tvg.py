"""The TVGBench runner: one temporal-grounding request per query; mIoU, R1@0.3/0.5/0.7.

The query is asked with the served temporal-grounding task (`task="temporal"`: the
system prompt asks for `From <t>s</t>s to <t>e</t>s`); the prediction is the voted
span, or two numbers in the answer text (`answers.span_of`); none -> IoU 0. Records
keep the span, the truth and the IoU. Failed samples count as IoU 0 in the summary.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from clients.bench.answers import span_of
from clients.bench.datasets import TvgItem
from clients.bench.metrics import TvgSummary, span_iou, summarize_tvg
from clients.bench.runner import Keyed, Record, ResultStore, RunStats, run_all
from clients.bench.target import ReasonTarget, RequestOptions

QUESTION = "Find the moment in the video that matches this description: {query}"
PAPER_MIOU = {"Open-o3 Video": 20.8, "Qwen2.5-VL-7B": 16.3}


@dataclass(frozen=True)
class TvgConfig:
    opts: RequestOptions = field(default_factory=RequestOptions)
    concurrency: int = 2
    progress: bool = True


async def run_sample(item: TvgItem, service: ReasonTarget, cfg: TvgConfig) -> Record:
    if item.video is None:
        raise FileNotFoundError(f"no video file for {item.key!r}")
    vid = await service.video_id(item.video)
    result = await service.reason(vid, QUESTION.format(query=item.query), task="temporal",
                                  opts=cfg.opts)
    span = span_of(result)
    return {"video_id": vid, "answer": result.answer, "span": span,
            "truth": list(item.span), "iou": span_iou(item.span, span),
            "groups": item.groups, "random_tiny_model": result.random_tiny_model}


async def run_tvg(
    items: Sequence[TvgItem], service: ReasonTarget, store: ResultStore,
    cfg: TvgConfig | None = None,
) -> RunStats:
    cfg = cfg or TvgConfig()

    async def work(item: TvgItem) -> Record:
        return await run_sample(item, service, cfg)

    return await run_all([Keyed(i.key, i) for i in items], work, store,
                         concurrency=cfg.concurrency, progress=cfg.progress, label="TVGBench")


def summarize_run(
    items: Sequence[TvgItem], records: Mapping[str, Record]
) -> tuple[TvgSummary, dict[str, TvgSummary]]:
    """Overall and per-category (dataset_name, qsemtype) summaries."""
    ious = {i.key: _iou(records.get(i.key)) for i in items}
    groups: dict[str, list[float]] = {}
    for i in items:
        for kind, name in i.groups.items():
            groups.setdefault(f"{kind}:{name}", []).append(ious[i.key])
    return summarize_tvg(list(ious.values())), {k: summarize_tvg(v) for k, v in
                                                 sorted(groups.items())}


def _iou(rec: Record | None) -> float:
    return float(rec["iou"]) if rec and rec.get("ok") else 0.0
