"""Synthetic benchmark data in each benchmark's own file format, on generated videos.

Every clip is a 4 s, 224x168, 10 fps H.264 video of one coloured square moving
diagonally (`service.video.synth`), so its box at any second is known exactly. The
frame size is a multiple of 28 inside the default pixel budget: the frames are fed at
their original size, and a box the scripted model writes equals the box in the video.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from service.grounding.types import Prompt, TextPart
from service.inference.backend import SamplingParams
from service.video.synth import Scene, SceneObject, SceneTruth, write_scene

W, H, SECONDS, FPS = 224, 168, 4.0, 10.0


def write_clip(path: Path, color: tuple[int, int, int]) -> SceneTruth:
    square = SceneObject("square", color, (40, 40), ((0.0, 10.0, 20.0), (SECONDS, 170.0, 110.0)))
    return write_scene(path, Scene(W, H, SECONDS, (square,)), fps=FPS)


def box_at(truth: SceneTruth, t: float) -> list[float]:
    return [float(v) for v in truth.boxes_at(t)["square"]]


def prompt_text(prompt: Prompt) -> str:
    return "\n".join(p.text for p in prompt.user if isinstance(p, TextPart))


def trace(answer: str, think: str = "scripted reasoning") -> str:
    return f"<think>{think}</think><answer>{answer}</answer>"


def script_by_marker(
    table: Sequence[tuple[Sequence[str], str]], default: str = "<think>no idea</think>"
) -> Callable[[Prompt, int, SamplingParams], list[str]]:
    """A ScriptedBackend completion script: the first row whose markers ALL occur in
    the prompt's text gives the completion (repeated n times)."""

    def script(prompt: Prompt, n: int, sampling: SamplingParams) -> list[str]:
        text = prompt_text(prompt)
        for markers, completion in table:
            if all(m in text for m in markers):
                return [completion] * n
        return [default] * n

    return script


def vstar_record(vid: str, domain: str, truth: SceneTruth, span: tuple[int, int],
                 answer: str) -> dict[str, Any]:
    """One V_STaR_test.json record (current release layout) about clip `vid`."""
    seconds = range(span[0], span[1] + 1)
    return {
        "vid": vid, "domain": domain, "fps": FPS, "width": W, "height": H,
        "frame_count": int(SECONDS * FPS),
        "question": f"What colour is the square in {vid}?", "answer": answer,
        "temporal_question": f"When does the square in {vid} cross the middle?",
        "timestamps": [float(span[0]), float(span[1])],
        "spatial_question": f"Where is the square in {vid} while it crosses?",
        "spatial_question_2": f"Where is the square in {vid} at the crossing?",
        "bboxes": [dict(zip(("xmin", "ymin", "xmax", "ymax"), box_at(truth, t), strict=True),
                        timestamp=t, frame_index=int(t * FPS)) for t in seconds],
    }


def write_json(path: Path, data: Any) -> Path:
    path.write_text(json.dumps(data), encoding="utf-8")
    return path
