"""Draw docs/img/evidence.png, the README's evidence picture.

Made by the real gateway (upload, sampler, pipeline, voting, coordinate maps) and the
real `o3-reason --annotate` drawing code, with the scripted backend double citing the
generated square's TRUE boxes: the random tiny checkpoint would cite noise.
Run: .venv/bin/python scripts/readme_picture.py
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from fastapi.testclient import TestClient

from clients.annotate.render import annotate
from clients.sdk.models import ReasonResult
from service.app import create_app
from service.grounding.geometry import original_to_fed
from service.grounding.grammar import format_evidence, format_trace
from service.grounding.types import FrameSetMeta
from service.inference.doubles import ScriptedBackend
from service.settings import Settings
from service.video.policy import fit_size
from service.video.synth import MovingSquareTruth, write_moving_square

OUT = Path(__file__).resolve().parents[1] / "docs/img/evidence.png"
SIZE = (640, 360)


def scripted_trace(truth: MovingSquareTruth) -> str:
    """A trace citing the square where it really is, in fed-frame pixels."""
    meta = FrameSetMeta(times=(0.0,), fed_size=fit_size(*SIZE, 4 * 28 * 28, 128 * 28 * 28),
                        orig_size=SIZE)

    def cite(t: float) -> str:
        box = original_to_fed(truth.box_at(t), meta)
        return format_evidence("red square", [tuple(round(v) for v in box)], t)

    think = f"The {cite(1.5)} moves down, then {cite(4.5)} and {cite(7.0)}."
    return format_trace(think, "It bounces between the corners")


def main() -> None:
    work = Path(tempfile.mkdtemp())
    video = work / "square.mp4"
    truth = write_moving_square(video, width=SIZE[0], height=SIZE[1], fps=25, duration=8.0,
                                square_size=70, color=(230, 60, 60))
    backend = ScriptedBackend(completions=[scripted_trace(truth)], scores=["2"])
    app = create_app(Settings(_env_file=None, data_dir=work / "data"),  # type: ignore[call-arg]
                     backend=backend)
    with TestClient(app) as client:
        reply = client.post("/v1/reason", data={"question": "Where does the square go?", "n": "4"},
                            files={"file": ("square.mp4", video.read_bytes(), "video/mp4")})
        reply.raise_for_status()
    print(annotate(video, ReasonResult.model_validate(reply.json()), OUT))


if __name__ == "__main__":
    main()
