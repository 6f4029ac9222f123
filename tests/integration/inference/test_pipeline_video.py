"""The pipeline on a real generated video through the real sampler (PyAV decode).

A moving red square is written with `service.video.synth`; `sample_video` decodes
and resizes the frames; the scripted model cites the square's TRUE box (converted to
fed pixels, as a perfect model would) at one of the fed frames' times. The verdict's
merged evidence, mapped back to original coded pixels by the pipeline, must land on
the true square, and the verifier's crops (cut from the decoded frames) must show it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
from PIL import Image

from service.grounding.geometry import box_iou, display_to_fed
from service.grounding.grammar import format_evidence, format_trace
from service.grounding.types import Prompt
from service.inference.doubles import ScriptedBackend
from service.inference.pipeline import Pipeline
from service.inference.types import PipelineOptions
from service.video.sampler import sample_video
from service.video.synth import write_moving_square

RED = (255, 0, 0)


def mostly_red(img: Image.Image) -> bool:
    mean = img.convert("RGB").resize((1, 1), Image.Resampling.BOX)
    r, g, b = mean.getpixel((0, 0))  # type: ignore[misc]
    return bool(r > 150 and g < 90 and b < 90)


def judge(prompt: Prompt, images: Sequence[Image.Image]) -> str:
    """2 when every crop is mostly the red square, else 0."""
    return "2" if images and all(mostly_red(im) for im in images) else "0"


@pytest.mark.parametrize(
    "rotation",
    [
        0,   # plain landscape file: fed -> original is a scale
        90,  # display-matrix rotation: fed (display) -> coded needs the rotation undone
    ],
)
async def test_evidence_lands_on_the_true_square(tmp_path: Path, rotation: int) -> None:
    truth = write_moving_square(tmp_path / "square.mp4", width=160, height=120, fps=10.0,
                                duration=4.0, rotation=rotation, square_size=32, seed=3)
    frames = sample_video(tmp_path / "square.mp4").frameset
    meta = frames.meta
    k = len(meta.times) // 2
    t = meta.times[k]
    fed_box = display_to_fed(truth.display_box_at(t), meta.display_size, meta.fed_size)
    good = format_trace("The square " + format_evidence("red square", [fed_box], t), "red")
    wrong = format_trace("A " + format_evidence("blue square", [(0, 0, 8, 8)], t), "blue")
    backend = ScriptedBackend(completions=[good, good, good, wrong], scores=judge)

    verdict = await Pipeline(backend).run(frames, "What colour is the square?",
                                          opts=PipelineOptions(n=4, return_traces=True))

    assert verdict.answer == "red" and verdict.confidence == pytest.approx(3.0 / 3.2)
    (ev,) = verdict.evidence
    true_box = truth.box_at(t)
    assert ev.support == 3 and ev.time == pytest.approx(t)
    assert box_iou(ev.box_orig, true_box) > 0.85, (ev.box_orig, true_box)
    assert max(abs(a - b) for a, b in zip(ev.box_orig, true_box, strict=True)) <= 3.0
    w, h = meta.orig_size
    expected_norm = (true_box[0] / w, true_box[1] / h, true_box[2] / w, true_box[3] / h)
    assert ev.box_norm == pytest.approx(expected_norm, abs=0.03)
    # the verifier saw the square in the decoded frames (2 -> 1.0) and not in the corner
    assert [tr.verifier_score for tr in verdict.traces] == [2.0, 2.0, 2.0, 0.0]

