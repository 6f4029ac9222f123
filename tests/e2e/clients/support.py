"""The scripted "model" of the client e2e tests: a trace citing the square's TRUE box.

`cited_trace(truth, fed_size)` writes, with the project's own grammar writers, one
grounded trace that names the square at each of `EVIDENCE_TIMES` with its true box
scaled into fed-frame pixels, exactly as a perfect model would cite it. The gateway
then maps those boxes back to original pixels: the tests check that round trip.
"""

from __future__ import annotations

from service.grounding.grammar import format_evidence, format_trace
from service.video.synth import MovingSquareTruth

EVIDENCE_TIMES = (1.0, 2.5)
ANSWER = "a white square"


def fed_box(truth: MovingSquareTruth, t: float, fed_size: tuple[int, int]) -> tuple[float, ...]:
    """The square's display box at `t`, in pixels of the frame as fed to the model."""
    dw, dh = (truth.scene.width, truth.scene.height)
    if truth.rotation % 180 == 90:
        dw, dh = dh, dw
    x1, y1, x2, y2 = truth.display_box_at(t)
    sx, sy = fed_size[0] / dw, fed_size[1] / dh
    return (round(x1 * sx), round(y1 * sy), round(x2 * sx), round(y2 * sy))


def cited_trace(truth: MovingSquareTruth, fed_size: tuple[int, int]) -> str:
    mentions = " then ".join(
        format_evidence("square", [fed_box(truth, t, fed_size)], t) for t in EVIDENCE_TIMES
    )
    return format_trace(f"I follow the square: {mentions}.", ANSWER)
