"""Needle-in-a-haystack videos: a long, cheap video with ONE short event at a known time.

Owns `NeedleSpec`, `NeedleTruth` and `write_needle_video` (tests, the needle benchmark).
Cheap on purpose: small frames, a low frame rate, the fastest x264 preset, a flat
background, so an hour encodes in seconds and decoding stays cheap.

Scene: a blue square drifts around the whole time (so no frame is empty); a red circle
(the needle) is visible on [start, start + length) at a fixed, seeded position.
`start` and the position are drawn from `seed`; the truth box is in coded pixels.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from pathlib import Path

from service.grounding.types import Box
from service.video.synth import Scene, SceneObject, SceneTruth, write_scene

NEEDLE = "red circle"
QUESTION = "When does the red circle appear?"


@dataclass(frozen=True)
class NeedleSpec:
    duration: float
    seed: int = 0
    width: int = 160
    height: int = 96
    fps: float = 2.0
    gop_s: float = 2.0
    min_len: float = 3.0
    max_len: float = 5.0
    size: int = 20


@dataclass(frozen=True)
class NeedleTruth:
    spec: NeedleSpec
    start: float
    end: float
    box: Box                      # coded pixels while visible
    scene: SceneTruth | None = None  # the written frames' truth (None: not written here)

    def contains(self, t: float, slack: float = 0.0) -> bool:
        return self.start - slack <= t <= self.end + slack


def needle_scene(spec: NeedleSpec) -> tuple[Scene, float, float, Box]:
    rng = random.Random(spec.seed)
    length = rng.uniform(spec.min_len, spec.max_len)
    start = round(rng.uniform(spec.max_len, spec.duration - 2 * spec.max_len), 2)
    x = rng.randrange(0, spec.width - spec.size)
    y = rng.randrange(0, spec.height - spec.size)
    w, h, s = spec.width, spec.height, 16
    stops = range(0, int(spec.duration) + 60, 60)  # a new drift target every minute
    legs = [(t, (t * 7) % (w - s), (t * 3) % (h - s)) for t in stops]
    drift = SceneObject("blue square", (0, 0, 255), (s, s),
                        tuple((float(t), float(a), float(b)) for t, a, b in legs))
    needle = SceneObject(NEEDLE, (255, 0, 0), (spec.size, spec.size), ((0.0, x, y),),
                         shape="ellipse", appear=start, disappear=start + length)
    box = (float(x), float(y), float(x + spec.size), float(y + spec.size))
    return Scene(w, h, spec.duration, (drift, needle)), start, start + length, box


def needle_truth(spec: NeedleSpec) -> NeedleTruth:
    """The event's truth without writing anything (for a video written before)."""
    _, start, end, box = needle_scene(spec)
    return NeedleTruth(spec, start, end, box)


def write_needle_video(path: str | Path, spec: NeedleSpec) -> NeedleTruth:
    scene, start, end, box = needle_scene(spec)
    truth = write_scene(path, scene, fps=spec.fps, gop=max(1, round(spec.gop_s * spec.fps)),
                        seed=spec.seed, preset="ultrafast")
    return NeedleTruth(spec, start, end, box, truth)
