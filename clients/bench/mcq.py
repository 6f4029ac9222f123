"""Video multiple choice with test-time scaling (VideoMME, WorldSense, VideoMMMU).

One request per question: `n` sampled traces, `voting="confidence"`,
`return_traces=True`. From the SAME n traces the three numbers of the paper's
Table 13 are computed, so they differ only in how the traces are aggregated:
- single pass: `service.grounding.voting` in SINGLE mode (the first votable trace);
- majority voting: MAJORITY mode (every votable trace weighs 1);
- confidence voting: the service's own answer (its verifier weights); the same vote
  is recomputed from the traces' returned weights and a disagreement is recorded
  (`confidence_recomputed`), as a check of the returned weights.
Open questions (VideoMMMU's non-multiple-choice ones) are asked free-form and correct
when their normalised text equals the reference's (`normalize.normalize_answer`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from clients.bench.datasets import McqItem
from clients.bench.metrics import accuracy, accuracy_by
from clients.bench.runner import Keyed, Record, ResultStore, RunStats, run_all
from clients.bench.target import ReasonTarget, RequestOptions
from clients.sdk import ReasonResult
from service.grounding.normalize import normalize_answer
from service.grounding.protocols import mcq_video_text, with_transcript
from service.grounding.types import ParsedTrace, TaskType
from service.grounding.voting import VotingMode, vote

MODES = ("single", "majority", "confidence")
PAPER_TABLE_13 = {  # SPEC section 4, N = 8: single / majority / confidence (x100)
    "worldsense": (37.5, 37.3, 38.5),
    "videommmu": (52.3, 53.1, 54.1),
}
PAPER_SINGLE = {"videomme": 63.6, "worldsense": 37.5, "videommmu": 52.3}


def _default_opts() -> RequestOptions:
    return RequestOptions(n=8, voting="confidence", temperature=1.0, num_frames=64,
                          max_pixels=262_144)


@dataclass(frozen=True)
class McqConfig:
    opts: RequestOptions = field(default_factory=_default_opts)
    concurrency: int = 2
    progress: bool = True
    asr_dir: Path | None = None        # `<video file>.txt` whole transcripts (the release's)
    subtitles_dir: Path | None = None  # `<video stem>.srt|.vtt`, placed by frame time


def item_prompt(item: McqItem, cfg: McqConfig) -> dict[str, Any] | None:
    """Per-item prompt fields: the release's whole-transcript text (`asr_dir`, sent as
    the `instruction` of the mcq-video protocol, exactly the VideoMME loader's) or a
    subtitle file (`subtitles_dir`). A missing transcript is the loader's "no audio
    transcripts" text; a missing subtitle file sends none."""
    if item.video is None:
        return None
    if cfg.asr_dir is not None:
        path = cfg.asr_dir / f"{item.video.name}.txt"
        asr = path.read_text(encoding="utf-8") if path.is_file() else ""
        text = mcq_video_text(item.question, list(item.options or ()))
        return {"protocol": "mcq-video", "instruction": with_transcript(text, asr)}
    if cfg.subtitles_dir is not None:
        for ext in (".srt", ".vtt"):
            path = cfg.subtitles_dir / f"{item.video.stem}{ext}"
            if path.is_file():
                return {"subtitles": path.read_text(encoding="utf-8")}
    return None


def answers_by_mode(result: ReasonResult, task: TaskType) -> dict[str, str | None]:
    """Single / majority from the returned traces, confidence as the service voted."""
    traces = result.traces or []
    parsed = [ParsedTrace(raw=t.text, think=t.think, answer=t.answer) for t in traces]
    weights = [t.weight for t in traces]
    out: dict[str, str | None] = {}
    for mode in (VotingMode.SINGLE, VotingMode.MAJORITY, VotingMode.CONFIDENCE):
        out[mode.value] = vote(parsed, weights, task=task, mode=mode).winner if parsed else None
    out["confidence_recomputed"] = out["confidence"]
    out["confidence"] = result.answer
    return out


def is_correct(item: McqItem, answer: str | None) -> bool:
    if answer is None:
        return False
    if item.options:
        return answer.strip().upper() == item.answer.strip().upper()
    return normalize_answer(answer) == normalize_answer(item.answer)


async def run_sample(item: McqItem, service: ReasonTarget, cfg: McqConfig) -> Record:
    if item.video is None:
        raise FileNotFoundError(f"no video file for {item.key!r}")
    vid = await service.video_id(item.video)
    task = TaskType.MCQ if item.options else TaskType.FREE_FORM
    result = await service.reason(vid, item.question, task=task.value, opts=cfg.opts,
                                  options=list(item.options) if item.options else None,
                                  return_traces=True, prompt=item_prompt(item, cfg))
    answers = answers_by_mode(result, task)
    return {
        "video_id": vid, "answers": answers, "truth": item.answer, "groups": item.groups,
        "correct": {m: is_correct(item, answers[m]) for m in MODES},
        "n_traces": len(result.traces or []), "confidence": result.confidence,
        "random_tiny_model": result.random_tiny_model, "model": result.model,
        "protocol": result.protocol,
    }


async def run_mcq(
    items: Sequence[McqItem], service: ReasonTarget, store: ResultStore,
    cfg: McqConfig | None = None,
) -> RunStats:
    cfg = cfg or McqConfig()

    async def work(item: McqItem) -> Record:
        return await run_sample(item, service, cfg)

    return await run_all([Keyed(i.key, i) for i in items], work, store,
                         concurrency=cfg.concurrency, progress=cfg.progress, label="MCQ")


@dataclass(frozen=True)
class McqSummary:
    total: int
    failed: int
    accuracy: dict[str, float]                                 # mode -> accuracy
    by_group: dict[str, dict[str, dict[str, tuple[float, int]]]]  # kind -> mode -> cat
    recompute_mismatches: int


def summarize_mcq(items: Sequence[McqItem], records: Mapping[str, Record]) -> McqSummary:
    """Accuracy over ALL items: a failed or missing sample counts as wrong."""
    rows = [records.get(i.key) or {} for i in items]
    ok = [bool(r.get("ok")) for r in rows]
    correct = {m: [o and bool(r["correct"][m]) for o, r in zip(ok, rows, strict=True)]
               for m in MODES}
    kinds = sorted({k for i in items for k in i.groups})
    by_group = {k: {m: accuracy_by(correct[m], [i.groups.get(k, "-") for i in items])
                    for m in MODES} for k in kinds}
    mismatches = sum(1 for o, r in zip(ok, rows, strict=True) if o and
                     _mismatch(r["answers"]))
    return McqSummary(len(items), ok.count(False), {m: accuracy(correct[m]) for m in MODES},
                      by_group, mismatches)


def _mismatch(answers: Mapping[str, Any]) -> bool:
    a, b = answers.get("confidence"), answers.get("confidence_recomputed")
    return (a or "").strip().upper() != (b or "").strip().upper()
