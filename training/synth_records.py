"""Synthetic STGR data: generated videos of coloured shapes with questions of all six tasks.

Owns: the scene recipe (a mover, an appearer and a static distractor per video), the six
question templates, and writing `STGR-SFT.json` / `STGR-RL.json` plus their media, in
exactly the released record format (SPEC 5), so every loader and trainer path runs
offline and tests have ground truth.

Per video (160x120, 10 fps, 4-8 s, written by `service.video.synth.write_scene`; the
`learnable` recipe changes spans, places and background, `RECIPES`):
- the MOVER crosses the frame left->right or right->left for the whole video;
- the APPEARER is visible only on [appear, disappear);
- the STATIC shape sits still the whole time.
Questions (one record per task, cycling over videos):
- temporal-spatial free-form QA: "Which shape appears during the video?" -> "the <appearer>"
- General video QA Free-form:   "Which way does the <mover> move?"    -> "to the left/right"
(free-form answers have >= 2 words: ROUGE-2 of a one-word answer is 0, capping it at 2/3)
- General video QA MCQ:          "Which shape moves ...?" with 3 options      -> letter
- temporal QA:                   "When is the <appearer> visible?"           -> [a, d]
- temporal QA (MCQ):             "When does the <appearer> appear?"          -> "X\\n[a, d]"
- visual QA (a PNG of one frame): "Where is the <static>?" -> <obj>..</obj><box>[px]</box>

Invariants: ground truth comes from the written video's `SceneTruth` (boxes exactly as
drawn in the frame shown at each key time); key-frame times are real frame times;
reasoning boxes are stored normalized [0, 1] (as in the released data); the same
`seed` writes the same records.
"""

from __future__ import annotations

import json
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from service.grounding.geometry import normalize_box
from service.grounding.grammar import format_time
from service.grounding.types import Box
from service.video.decode import decode_at
from service.video.probe import probe_video
from service.video.synth import Scene, SceneObject, SceneTruth, Shape, write_scene

WIDTH, HEIGHT, FPS, SIZE = 160, 120, 10.0, 22
COLORS: dict[str, tuple[int, int, int]] = {
    "red": (230, 30, 30), "green": (30, 200, 60), "blue": (40, 80, 240), "yellow": (240, 220, 30),
}
SHAPES: dict[str, Shape] = {"square": "rect", "circle": "ellipse"}
RECIPES = {
    "default": "4-8 s; the appearer from 1 s to past the middle (spans cover most of the "
               "video); the static shape in the right half; a black background",
    "cue": "8 s; spans of 1-2.5 s anywhere; the static shape anywhere below the mover; "
           "the position-and-time cue as background (Scene.cue_s): where and when are "
           "in the pixels",
    "grid": "the cue recipe on a grid: the appearer and the static shape each centred "
            "in one of the 8 cells of 40 x 40 px below the mover's row (one merged "
            "vision token each at 112 x 84), spans of 1 or 2 whole seconds from a "
            "whole second 1-5 (one temporal group each with 16 frames over 8 s)",
    "slots": "the grid recipe with every span 2 s long: the appearer shows from a whole "
             "second 1-5 to 2 s later, so when is one of 5 slots, as where is one of 8 "
             "cells",
}
"""Scene recipes (docs/TRAINING.md, the learnable ablation). `cue` and `grid` make the
constant answer weak (short spans anywhere, boxes anywhere) and put position and time
into the pixels, so a randomly initialised model of a few million parameters need not
learn absolute positions from rotary encodings alone; `grid` also turns box and time
regression into choosing among 8 cells and 5 x 2 spans; `slots` fixes the span length,
so time, like place, is one choice among a few (5 starts)."""
LEARNABLE_DURATION = 8.0
GRID_CELL = 40  # px of the 160 x 120 frame: one merged vision token at 112 x 84
TASK_ORDER = (
    "temporal-spatial free-form QA", "General video QA Free-form", "General video QA MCQ",
    "temporal QA", "temporal QA (MCQ)", "visual QA",
)


@dataclass(frozen=True)
class Video:
    """One generated video and the roles of its three shapes."""

    name: str
    truth: SceneTruth
    mover: SceneObject
    appearer: SceneObject
    static: SceneObject
    direction: str          # "left" or "right"

    @property
    def duration(self) -> float:
        return self.truth.scene.duration


def _shape(rng: random.Random, name: str, kind: str, color: str, path: Any,
           appear: float = 0.0, disappear: float = float("inf")) -> SceneObject:
    return SceneObject(name, COLORS[color], (SIZE, SIZE), path, SHAPES[kind], appear, disappear)


def make_scene(rng: random.Random, recipe: str = "default") -> tuple[Scene, str]:
    """One scene of `recipe` (`RECIPES`)."""
    if recipe not in RECIPES:
        raise ValueError(f"unknown recipe {recipe!r}; choose one of {sorted(RECIPES)}")
    learnable = recipe in ("cue", "grid", "slots")
    duration = LEARNABLE_DURATION if learnable else float(rng.randint(4, 8))
    colors = rng.sample(sorted(COLORS), 3)
    kinds = [rng.choice(sorted(SHAPES)) for _ in range(3)]
    names = [f"{c} {k}" for c, k in zip(colors, kinds, strict=True)]
    direction = rng.choice(["left", "right"])
    x0, x1 = (8.0, WIDTH - SIZE - 8.0) if direction == "right" else (WIDTH - SIZE - 8.0, 8.0)
    mover = _shape(rng, names[0], kinds[0], colors[0], ((0.0, x0, 10.0), (duration, x1, 10.0)))
    if recipe in ("grid", "slots"):
        fixed = 2 if recipe == "slots" else None
        return _grid_scene(rng, names, kinds, colors, mover, duration, fixed), direction
    if learnable:  # short spans anywhere
        appear = round(rng.uniform(0.5, duration - 3.0), 1)
        disappear = round(appear + rng.uniform(1.0, 2.5), 1)
    else:
        appear = round(rng.uniform(1.0, duration / 2), 1)
        disappear = round(rng.uniform(appear + 1.5, duration - 0.5), 1)
    appearer = _shape(rng, names[1], kinds[1], colors[1],
                      ((0.0, float(rng.randint(10, 60)), 70.0),), appear, disappear)
    static_at = (_free_spot(rng, appearer) if learnable
                 else (float(rng.randint(90, 130)), float(rng.randint(60, 90))))
    static = _shape(rng, names[2], kinds[2], colors[2], ((0.0, *static_at),))
    cue = duration if learnable else 0.0
    return Scene(WIDTH, HEIGHT, duration, (mover, appearer, static), cue_s=cue), direction


def _grid_scene(rng: random.Random, names: list[str], kinds: list[str], colors: list[str],
                mover: SceneObject, duration: float, fixed_length: int | None) -> Scene:
    """The `grid` recipe: two distinct cells below the mover's row, whole-second spans
    (1 or 2 s; `fixed_length` s for `slots`, drawn alike so `grid` stays byte for byte)."""
    cells = rng.sample([(c, r) for r in (1, 2) for c in range(WIDTH // GRID_CELL)], 2)
    (ax, ay), (sx, sy) = ((float(GRID_CELL * c + (GRID_CELL - SIZE) // 2),
                           float(GRID_CELL * r + (GRID_CELL - SIZE) // 2)) for c, r in cells)
    appear = float(rng.randint(1, 5))
    length = rng.randint(1, 2)
    appearer = _shape(rng, names[1], kinds[1], colors[1], ((0.0, ax, ay),),
                      appear, appear + (fixed_length or length))
    static = _shape(rng, names[2], kinds[2], colors[2], ((0.0, sx, sy),))
    return Scene(WIDTH, HEIGHT, duration, (mover, appearer, static), cue_s=duration)


def _free_spot(rng: random.Random, other: SceneObject) -> tuple[float, float]:
    """A top-left anywhere below the mover's row that does not overlap `other`."""
    ox, oy = other.path[0][1], other.path[0][2]
    while True:
        x, y = rng.randint(4, WIDTH - SIZE - 4), rng.randint(36, HEIGHT - SIZE - 4)
        if abs(x - ox) >= SIZE or abs(y - oy) >= SIZE:
            return float(x), float(y)


def write_video(out: Path, index: int, rng: random.Random, recipe: str = "default") -> Video:
    scene, direction = make_scene(rng, recipe)
    name = f"videos/synth_{index:05d}.mp4"
    truth = write_scene(out / name, scene, fps=FPS, seed=index)
    mover, appearer, static = scene.objects
    return Video(name, truth, mover, appearer, static, direction)


# ---- record pieces ----------------------------------------------------------------


def frame_at(video: Video, t: float) -> tuple[int, float]:
    """(index, time) of the written frame shown at time t."""
    ft = video.truth.frame_time_at(t)
    return video.truth.frame_times.index(ft), ft


def norm(box: Box) -> list[float]:
    return [round(v, 4) for v in normalize_box(box, (WIDTH, HEIGHT))]


def mention(video: Video, obj: SceneObject, t: float) -> str:
    """Evidence in the stored (normalized-box) form of the released reasoning."""
    box = video.truth.boxes_at(t)[obj.name]
    coords = ",".join(f"{v:g}" for v in norm(box))
    return f"<obj>{obj.name}</obj><box>[{coords}]</box>at<t>{format_time(t)}</t>s"


def key_annotations(
    video: Video, times: list[float]
) -> tuple[list[dict[str, Any]], dict[str, Any]]:
    frames, items = [], {}
    for t in times:
        idx, ft = frame_at(video, t)
        frames.append({"idx": idx, "time": round(ft, 3), "path": f"{video.name}#{idx}"})
        items[str(idx)] = {n: [norm(b)] for n, b in video.truth.boxes_at(ft).items()}
    return frames, items


def _options(rng: random.Random, right: str, wrong: list[str]) -> tuple[str, str]:
    opts = [right, *wrong]
    rng.shuffle(opts)
    letter = "ABCD"[opts.index(right)]
    return "\n".join(f"{'ABCD'[i]}. {o}" for i, o in enumerate(opts)), letter


def _appear_time(video: Video) -> float:
    return frame_at(video, video.appearer.appear + 1e-6)[1]


def _last_time(video: Video) -> float:
    return frame_at(video, video.appearer.disappear - 1e-6)[1]


# ---- the six task templates ---------------------------------------------------------


def grounded_freeform(video: Video, rng: random.Random) -> dict[str, Any]:
    t = _appear_time(video)
    frames, items = key_annotations(video, [t])
    answer = f"the {video.appearer.name}"
    reasoning = (f"At the start only the {video.mover.name} and the {video.static.name} are "
                 f"visible. Then {mention(video, video.appearer, t)} appears, while "
                 f"{mention(video, video.static, t)} stays still. The new shape is {answer}.")
    return {"question": "Which shape appears during the video?",
            "answer": answer, "key_frames": frames, "key_items": items,
            "reasoning_process": reasoning}


def general_freeform(video: Video, rng: random.Random) -> dict[str, Any]:
    t0, t1 = frame_at(video, 0.0)[1], frame_at(video, video.duration - 0.5)[1]
    frames, items = key_annotations(video, [t0, t1])
    reasoning = (f"{mention(video, video.mover, t0)} starts on one side and later "
                 f"{mention(video, video.mover, t1)} is on the {video.direction}. "
                 f"So it moves to the {video.direction}.")
    return {"question": f"Which way does the {video.mover.name} move, left or right?",
            "answer": f"to the {video.direction}", "key_frames": frames, "key_items": items,
            "reasoning_process": reasoning}


def general_mcq(video: Video, rng: random.Random) -> dict[str, Any]:
    t0, t1 = frame_at(video, 0.0)[1], frame_at(video, video.duration - 0.5)[1]
    frames, items = key_annotations(video, [t0, t1])
    options, letter = _options(rng, video.mover.name, [video.static.name, video.appearer.name])
    reasoning = (f"{mention(video, video.mover, t0)} later is at "
                 f"{mention(video, video.mover, t1)}, while {mention(video, video.static, t1)} "
                 f"does not move. The moving shape is the {video.mover.name}.")
    return {"question": f"Which shape moves across the video?\n{options}", "answer": letter,
            "key_frames": frames, "key_items": items, "reasoning_process": reasoning}


def temporal(video: Video, rng: random.Random) -> dict[str, Any]:
    a, d = _appear_time(video), _last_time(video)
    frames, items = key_annotations(video, [a, d])
    reasoning = (f"The {video.appearer.name} is first seen at <t>{format_time(a)}</t>s and is "
                 f"last seen at <t>{format_time(d)}</t>s.")
    return {"question": f"When is the {video.appearer.name} visible?", "answer": f"[{a}, {d}]",
            "key_frames": frames, "key_items": items, "reasoning_process": reasoning}


def temporal_mcq(video: Video, rng: random.Random) -> dict[str, Any]:
    row = temporal(video, rng)
    a, d = _appear_time(video), _last_time(video)
    span = f"from {format_time(a)}s to {format_time(d)}s"
    shifts = [s for s in (-2.0, -1.0, 1.5, 2.5) if a + s >= 0 and d + s <= video.duration]
    wrong = [f"from {format_time(a + s)}s to {format_time(d + s)}s" for s in shifts[:2]]
    wrong += ["from 0.0s to 1.0s"] * (2 - len(wrong))
    options, letter = _options(rng, span, wrong)
    row.update(question=f"When is the {video.appearer.name} visible?\n{options}",
               answer=f"{letter}\n[{a}, {d}]",
               reasoning_process=row["reasoning_process"] + f" That is option {letter}.")
    return row


def visual(video: Video, rng: random.Random, out: Path, index: int) -> dict[str, Any]:
    _idx, t = frame_at(video, rng.uniform(0, video.duration - 0.5))
    name = f"images/synth_{index:05d}.png"
    info = probe_video(out / video.name)
    frames, _ = decode_at(out / video.name, info, [t], (WIDTH, HEIGHT))
    (out / name).parent.mkdir(parents=True, exist_ok=True)
    frames[0].image.save(out / name)
    box = video.truth.boxes_at(t)[video.static.name]
    coords = ",".join(str(round(v)) for v in box)
    nbox = ",".join(f"{v:g}" for v in norm(box))
    return {"question": f"Where is the {video.static.name}?", "video_path": None,
            "image_path": name, "image_size": [WIDTH, HEIGHT],
            "answer": f"<obj>{video.static.name}</obj><box>[{coords}]</box>",
            "key_frames": [], "key_items": {},
            "reasoning_process": f"The <obj>{video.static.name}</obj><box>[{nbox}]</box> is "
                                 f"the only {video.static.name} in the image."}


TEMPLATES: dict[str, Callable[[Video, random.Random], dict[str, Any]]] = {
    "temporal-spatial free-form QA": grounded_freeform,
    "General video QA Free-form": general_freeform,
    "General video QA MCQ": general_mcq,
    "temporal QA": temporal,
    "temporal QA (MCQ)": temporal_mcq,
}


def make_record(
    video: Video, task: str, rng: random.Random, out: Path, index: int
) -> dict[str, Any]:
    base = {"id": f"synth-{index:05d}", "task": task, "source": "synth",
            "video_path": video.name, "image_path": None, "image_size": None}
    body = visual(video, rng, out, index) if task == "visual QA" else TEMPLATES[task](video, rng)
    return {**base, **body}


def generate(
    out: Path, n: int, seed: int = 0, tasks: tuple[str, ...] = TASK_ORDER,
    recipe: str = "default",
) -> list[dict[str, Any]]:
    """Write `n` records (tasks cycling, one video per len(tasks) records) under `out`,
    scenes drawn by `recipe` (`RECIPES`)."""
    rng = random.Random(seed)
    (out / "videos").mkdir(parents=True, exist_ok=True)
    records: list[dict[str, Any]] = []
    video: Video | None = None
    for i in range(n):
        if i % len(tasks) == 0 or video is None:
            video = write_video(out, seed * 100_000 + i, rng, recipe)
        records.append(make_record(video, tasks[i % len(tasks)], rng, out, seed * 100_000 + i))
    write_json(out, records)
    return records


def write_json(out: Path, records: list[dict[str, Any]]) -> None:
    (out / "STGR-SFT.json").write_text(json.dumps(records, indent=1))
    rl = [{k: v for k, v in r.items() if k != "reasoning_process"} for r in records]
    (out / "STGR-RL.json").write_text(json.dumps(rl, indent=1))
