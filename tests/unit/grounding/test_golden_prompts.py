"""Our prompt protocols against the RELEASE's own prompt code, row by row.

The tables in tests/golden/ come from `scripts/golden/release_prompts.py`, which runs the
release's trainer, SFT collator, V-STAR script and VideoMME loader on generated inputs
and captures the text each hands to the model (rendered through the Qwen2.5-VL chat
template). Here the same inputs go through OUR builder and the same template; every row
must be equal. Where our default (`rl`) differs from the release, a test names the rows
and the reason.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from service.grounding import protocols as pc
from service.grounding.prompt import (
    DATASET_TASKS,
    PromptSpec,
    build_image_prompt,
    build_prompt,
    to_hf_messages,
)
from service.grounding.protocols import Protocol
from service.grounding.subtitles import parse_subtitles
from service.grounding.types import Prompt

GOLDEN = Path(__file__).resolve().parents[2] / "golden"
IMG = "<|vision_start|><|image_pad|><|vision_end|>"
VIDEO = "<|vision_start|><|video_pad|><|vision_end|>"


def load(name: str) -> list[dict[str, Any]]:
    with (GOLDEN / f"{name}.jsonl").open(encoding="utf-8") as f:
        return [json.loads(line) for line in f]


def render(prompt: Prompt) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    from service.inference.tiny import QWEN25_VL_CHAT_TEMPLATE
    out, _ = render_jinja_template([to_hf_messages(prompt)], chat_template=QWEN25_VL_CHAT_TEMPLATE,
                                   add_generation_prompt=True)
    return str(out[0])


def training_prompt(row: dict[str, Any], protocol: Protocol) -> Prompt:
    """Our builder on a trainer row: key frames at the positions the release put them."""
    if row["task"] == "visual QA":
        return build_image_prompt(row["question"], spec=PromptSpec(protocol=protocol))
    kf = iter(row["key_frames"])
    times = [next(kf) if kind == "k" else 0.0 for kind in row["order"]]
    keys = frozenset(i for i, kind in enumerate(row["order"]) if kind == "k")
    spec = PromptSpec(protocol=protocol, dataset_task=row["task"], key_frames=keys,
                      sample_fps=row["sample_fps"])
    return build_prompt(row["question"], times, task=DATASET_TASKS[row["task"]], spec=spec)


@pytest.mark.parametrize(("table", "protocol"), [("prompts_rl", Protocol.RELEASED),
                                                 ("prompts_sft", Protocol.SFT)])
def test_training_protocols_equal_the_release_on_every_row(table: str, protocol: Protocol) -> None:
    rows = load(table)
    assert len(rows) >= 250 and {r["task"] for r in rows} >= set(DATASET_TASKS) - {
        "temporal QA (MCQ)"}
    bad = [i for i, r in enumerate(rows) if render(training_prompt(r, protocol)) != r["text"]]
    assert bad == [], f"{len(bad)}/{len(rows)} rows differ, first: {bad[:5]}"


def test_rl_default_equals_the_rl_trainer_when_given_its_times() -> None:
    # `rl` (serving) with the release's evenly spread times and duration gives the RL
    # trainer's exact text on every row WITHOUT key frames. Rows with key frames differ
    # on purpose: the trainer labels a key frame in whole seconds (`at 3s`) next to a
    # uniform frame of the same second (`at 3.0s`); ours labels every frame by its time.
    rows = load("prompts_rl")
    plain = [r for r in rows if r["task"] != "visual QA" and not r["key_frames"]]
    assert len(plain) > 150
    for r in plain:
        n, fps = len(r["order"]), r["sample_fps"]
        times = [i / fps for i in range(n)]
        ours = build_prompt(r["question"], times, task=DATASET_TASKS[r["task"]],
                            duration=n / fps)
        assert render(ours) == r["text"], r["question"]

    # rows with key frames: the ONLY difference is the key frames' labels
    keyed = [r for r in rows if r["key_frames"]]
    assert len(keyed) > 30
    for r in keyed:
        times, theirs, kf, uniform = [], r["text"], iter(r["key_frames"]), 0
        for i, kind in enumerate(r["order"]):
            if kind == "k":
                t = next(kf)
                times.append(t)
                theirs = theirs.replace(f"Frame {i + 1} at {round(t)}s: ",
                                        f"Frame {i + 1} at {t:.1f}s: ", 1)
            else:
                times.append(uniform / r["sample_fps"])
                uniform += 1
        ours = build_prompt(r["question"], times, task=DATASET_TASKS[r["task"]],
                            duration=uniform / r["sample_fps"])
        assert render(ours) == theirs, r["question"]


def test_release_sample_fps_arithmetic() -> None:
    # the label arithmetic's input: nframes / total_frames * video_fps (qwen-vl-utils)
    for r in load("prompts_rl"):
        if r["sample_fps"] is not None:
            n = r["order"].count("u")
            assert pc.release_sample_fps(n, r["frame_count"], r["fps"]) == r["sample_fps"]


# ---- V-STAR ------------------------------------------------------------------------------


def vstar_spec(row: dict[str, Any]) -> PromptSpec:
    """The harness's overrides for a chain step, from the annotation (as clients.bench)."""
    d, think = row["data"], row["think"]
    boxes = [[b["xmin"], b["ymin"], b["xmax"], b["ymax"]] for b in d["bboxes"]]
    length = pc.vstar_video_length(d["frame_count"], d["fps"])
    step = row["step"]
    spec = pc.vstar_step(step, d, boxes, think=think, video_length=length)
    return PromptSpec(protocol=Protocol("vstar-" + step), **spec)


def test_vstar_steps_equal_the_release_on_every_row() -> None:
    rows = load("prompts_vstar")
    assert len(rows) >= 250 and {r["step"] for r in rows} == {
        "what", "when", "where", "where-chain2", "when-chain2"}
    bad = []
    for i, r in enumerate(rows):
        ours = build_prompt(r["data"]["question"], r["frame_times"], spec=vstar_spec(r))
        if render(ours) != r["text"]:
            bad.append(i)
    assert bad == [], f"{len(bad)}/{len(rows)} rows differ, first: {bad[:5]}"


def test_vstar_server_defaults_equal_the_release() -> None:
    # without overrides, the what / when protocols build the think-mode text themselves
    # (the when preamble from the video's duration)
    rows = [r for r in load("prompts_vstar") if r["think"] and r["step"] in ("what", "when")]
    assert len(rows) > 50
    for r in rows:
        d = r["data"]
        q = d["question"] if r["step"] == "what" else d["temporal_question"]
        ours = build_prompt(q, r["frame_times"], duration=d["frame_count"] / d["fps"],
                            spec=PromptSpec(protocol=Protocol("vstar-" + r["step"])))
        assert render(ours) == r["text"]


# ---- MCQ benchmarks -------------------------------------------------------------------------


def test_mcq_video_equals_the_videomme_loader_on_every_row() -> None:
    # the release feeds the native video (one video block); we feed frames as images,
    # so our N image blocks stand where its video block stands: everything else equal
    rows = load("prompts_mcq")
    assert len(rows) >= 100 and any(r["add_asr"] for r in rows)
    for r in rows:
        doc = r["doc"]
        spec = PromptSpec(protocol=Protocol.MCQ_VIDEO,
                          subtitles=r["transcript"] if r["add_asr"] else None)
        ours = render(build_prompt(doc["question"], [0.0, 1.0, 2.0], options=doc["options"],
                                   spec=spec))
        assert ours.replace(IMG * 3, VIDEO) == r["text"], doc["videoID"]


# ---- subtitles ---------------------------------------------------------------------------------


def test_srt_parsing_equals_the_videomme_loader_on_every_row() -> None:
    rows = load("subtitles_srt")
    assert len(rows) >= 100
    trailing = 0
    for r in rows:
        cues = parse_subtitles(r["srt"])
        theirs = r["lines"]
        assert [(c.start, c.end) for c in cues] == [(ln[3], ln[4]) for ln in theirs]
        assert [(int(c.start * r["fps"]), int(c.end * r["fps"])) for c in cues] == [
            (ln[0], ln[1]) for ln in theirs]
        # the release keeps a trailing space on the last cue of a file ending in one "\n"
        trailing += sum(c.text != ln[2] for c, ln in zip(cues, theirs, strict=True))
        assert [c.text for c in cues] == [ln[2].rstrip() for ln in theirs]
    assert trailing == sum(r["srt"].endswith("\n") and not r["srt"].endswith("\n\n")
                           for r in rows)
