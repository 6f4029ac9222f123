"""The V-STAR runner: both reasoning chains of every sample, through `/v1/reason`.

Per sample (one uploaded video, five requests, in this order):
  what      free-form  `question`
  chain 1   when       temporal   `temporal_question`
            where      free-form  `spatial_question`, told the TRUE time range: boxes
                                  asked for each whole second in it
  chain 2   where      free-form  `spatial_question_2`, told how many boxes to give
            when       temporal   `temporal_question`, told the TRUE boxes (original
                                  pixels, with the video's resolution)
Two protocols (`VStarConfig.protocol`):
- `release` (default): each step is sent EXACTLY as the release's V-STAR script
  (`eval/test/test_vstar_multi_images.py`, think mode) builds it: server protocol
  `vstar-<step>` (system `You are a helpful assistant.`, its frame labels and layout)
  with the step's text as the `instruction` override and the when steps' "This video
  is N seconds long..." as the `preamble` (`service.grounding.protocols.vstar_step`;
  equal to the script's text on every row of tests/golden/prompts_vstar.jsonl).
- `serving`: the served model's own prompt (`rl`) with our phrasing of each step.
Like the reference, the steps of a chain do not see each other's answers; only the
ground-truth hints connect them.

Then the "what" answer is judged (`judges`); an empty answer (the service abstained)
is not judged: the sample counts as unanswered, as eval.py treats a missing answer.
Predictions are read by `answers`. A record keeps the raw answers, the predictions as
eval.py consumes them (`answer_temporal`, `answer_spatial`, ...), the judge's reply
and the video id, so it can be re-scored without asking again (`score_records`).
A sample whose video is missing or whose request fails is a failure record: it is
retried on resume and, until then, counts as unanswered (in the Acc denominator).
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.bench.answers import BoxSource, boxes_of, span_of
from clients.bench.datasets import VStarItem
from clients.bench.judges import Judge
from clients.bench.metrics import (
    VStarScored,
    VStarSummary,
    parse_judge_score,
    score_vstar_sample,
    summarize_vstar,
)
from clients.bench.runner import Keyed, Record, ResultStore, RunStats, run_all
from clients.bench.target import ReasonTarget, RequestOptions
from service.grounding.protocols import vstar_step, vstar_video_length

STEPS = ("what", "when", "where", "where-chain2", "when-chain2")
STEP_TASKS = {"what": "free-form", "when": "temporal", "where": "free-form",
              "where-chain2": "free-form", "when-chain2": "temporal"}
STEP_QUESTIONS = {"what": "question", "when": "temporal_question",
                  "where": "spatial_question", "where-chain2": "spatial_question_2",
                  "when-chain2": "temporal_question"}


@dataclass(frozen=True)
class VStarConfig:
    opts: RequestOptions = field(default_factory=RequestOptions)
    box_source: BoxSource = "auto"
    concurrency: int = 2
    progress: bool = True
    protocol: str = "release"   # "release": the script's prompts; "serving": ours
    think: bool = True          # the script's --think_mode (release protocol only)


# ---- prompts ---------------------------------------------------------------------------


def what_prompt(r: Mapping[str, Any]) -> str:
    return (f"Answer the question about the video: {r['question']}\n"
            "(If the answer is a person, you don't need to identify the person.)")


def when_prompt(r: Mapping[str, Any], length: float) -> str:
    return (f"This video is {length} seconds long. Answer the question about the video: "
            f"{r['temporal_question']}\nGive the start and end time of the moment.")


def when_prompt_2(r: Mapping[str, Any], length: float, boxes: list[list[float]]) -> str:
    return (f"This video is {length} seconds long with a resolution of {r['width']}x"
            f"{r['height']} (width x height). Answer the question about the video: "
            f"{r['temporal_question']}\nThere are {len(boxes)} bounding boxes of the key "
            f"object related to the question in the video, without their times: {boxes}. "
            "Give the start and end time of the moment.")


def where_prompt(r: Mapping[str, Any]) -> str:
    seconds = list(range(math.ceil(r["timestamps"][0]), math.floor(r["timestamps"][1]) + 1))
    first = seconds[0] if seconds else 0
    return (f"Answer the question about the video: {r['spatial_question']} with bounding "
            "boxes in [x1, y1, x2, y2] format. For each whole second within the time range "
            f"{seconds} (boundaries included), give the box of the object. In the answer, "
            "write a JSON object whose keys are the whole seconds (as strings) and whose "
            f'values are the boxes, for example {{"{first}": [x1, y1, x2, y2], ...}}.')


def where_prompt_2(r: Mapping[str, Any], count: int) -> str:
    return (f"Answer the question about the video: {r['spatial_question_2']} with bounding "
            "boxes in [x1, y1, x2, y2] format. Decide which whole seconds of the video are "
            f"related to the question and give {count} box(es), one per such second. In "
            "the answer, write a JSON object whose keys are the whole seconds (as strings) "
            'and whose values are the boxes, for example {"0": [x1, y1, x2, y2], ...}.')


# ---- one sample ------------------------------------------------------------------------


async def run_sample(
    item: VStarItem, service: ReasonTarget, judge: Judge, cfg: VStarConfig
) -> Record:
    if item.video is None:
        raise FileNotFoundError(f"no video file for vid {item.vid!r}")
    vid = await service.video_id(item.video)
    r = item.raw
    ask = release_step if cfg.protocol == "release" else serving_step
    answers = {step: await ask(service, vid, item, step, cfg) for step in STEPS}
    what, when1, where1, where2, when2 = (answers[s] for s in STEPS)
    boxes1, src1 = boxes_of(where1, cfg.box_source)
    boxes2, src2 = boxes_of(where2, cfg.box_source)
    answer = (what.answer or "").strip()
    judged = await judge.judge(str(r["question"]), str(r["answer"]), answer) if answer else None
    return {
        "video_id": vid,
        "answer_vqa": answer,
        "judge": judged.judge if judged else None,
        "judge_reply": judged.reply if judged else None,
        "answer_temporal": span_of(when1),
        "answer_temporal_2": span_of(when2),
        "answer_spatial": boxes1,
        "answer_spatial_2": boxes2,
        "box_sources": [src1, src2],
        "raw": {"temporal": when1.answer, "spatial": where1.answer,
                "spatial_2": where2.answer, "temporal_2": when2.answer},
        "random_tiny_model": what.random_tiny_model,
        "model": what.model,
        "protocol": cfg.protocol,
    }


def annotation_boxes(r: Mapping[str, Any]) -> list[list[Any]]:
    """The record's true boxes as the script lists them (its own numbers, unconverted)."""
    return [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in r.get("bboxes") or []]


async def release_step(service: ReasonTarget, vid: str, item: VStarItem, step: str,
                       cfg: VStarConfig) -> Any:
    """One chain step as the release's script sends it (see the module docstring)."""
    r = item.raw
    length = vstar_video_length(float(r["frame_count"]), float(r["fps"]))
    texts = vstar_step(step, r, annotation_boxes(r), think=cfg.think, video_length=length)
    prompt = {"protocol": f"vstar-{step}"} | {k: v for k, v in texts.items() if v is not None}
    return await service.reason(vid, str(r[STEP_QUESTIONS[step]]), task=STEP_TASKS[step],
                                opts=cfg.opts, prompt=prompt)


async def serving_step(service: ReasonTarget, vid: str, item: VStarItem, step: str,
                       cfg: VStarConfig) -> Any:
    """One chain step through the served model's own prompt, in our phrasing."""
    r, length = item.raw, item.length_s
    true_boxes = [list(g.box) for g in item.gt_boxes]
    question = {"what": lambda: what_prompt(r), "when": lambda: when_prompt(r, length),
                "where": lambda: where_prompt(r),
                "where-chain2": lambda: where_prompt_2(r, len(true_boxes)),
                "when-chain2": lambda: when_prompt_2(r, length, true_boxes)}[step]()
    return await service.reason(vid, question, task=STEP_TASKS[step], opts=cfg.opts,
                                prompt={"protocol": "rl"})


# ---- the run ---------------------------------------------------------------------------


async def run_vstar(
    items: Sequence[VStarItem],
    service: ReasonTarget,
    judge: Judge,
    store: ResultStore,
    cfg: VStarConfig = VStarConfig(),
) -> RunStats:
    async def work(item: VStarItem) -> Record:
        return await run_sample(item, service, judge, cfg)

    keyed = [Keyed(i.key, i) for i in items]
    return await run_all(keyed, work, store, concurrency=cfg.concurrency,
                         progress=cfg.progress, label="V-STAR")


def score_records(items: Sequence[VStarItem], records: Mapping[str, Record]) -> list[VStarScored]:
    """Scores of every item; a missing or failed record is an unanswered sample."""
    out = []
    for item in items:
        rec = records.get(item.key)
        ok = bool(rec and rec.get("ok"))
        rec = rec if ok and rec else {}
        has_answer = bool(rec.get("answer_vqa"))
        out.append(score_vstar_sample(
            judge_score=parse_judge_score(rec.get("judge_reply")) if has_answer else None,
            gt_span=item.span,
            gt_boxes=item.gt_boxes,
            pred_spans=(rec.get("answer_temporal"), rec.get("answer_temporal_2")),
            pred_boxes=(rec.get("answer_spatial"), rec.get("answer_spatial_2")),
            domain=str(item.raw.get("domain", "unknown")),
            video_seconds=item.length_s,
        ))
    return out


def summarize_run(items: Sequence[VStarItem], store: ResultStore) -> VStarSummary:
    return summarize_vstar(score_records(items, store.load()), total=len(items))


def per_sample_rows(items: Sequence[VStarItem], store: ResultStore) -> list[dict[str, Any]]:
    """The per-sample scores as JSON-ready rows (written next to the records)."""
    records = store.load()
    rows = []
    for item, s in zip(items, score_records(items, records), strict=True):
        rec = records.get(item.key, {})
        rows.append({"key": item.key, "ok": bool(rec.get("ok")), "error": rec.get("error"),
                     "judge_score": s.judge_score, "tiou": list(s.tiou),
                     "viou": list(s.viou), "viou_skip_missing": list(s.viou_skip),
                     "domain": s.domain, "length": s.length})
    return rows


def dump_rows(rows: Sequence[Mapping[str, Any]], path: Path) -> None:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
