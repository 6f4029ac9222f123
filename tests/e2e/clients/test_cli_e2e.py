"""`o3-reason` as a subprocess against the real gateway process (scripted stand-in).

The stand-in cites the square's TRUE box, so `--annotate` must draw its boxes exactly
where the square is in the original video's frames.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
from PIL import Image

from clients.annotate.draw import HEADER_HEIGHT, colour_for, panel_slots, pixel_box
from clients.sdk import ReasonResult
from service.grounding.geometry import box_iou
from service.video.synth import MovingSquareTruth
from tests.e2e.clients.conftest import REPO, Gateway
from tests.e2e.clients.support import ANSWER, EVIDENCE_TIMES
from tests.integration.clients.videos import bright_bbox

Square = tuple[Path, MovingSquareTruth]


def run_cli(gw: Gateway, *args: str, key: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "O3_SERVER": gw.url, "O3_API_KEY": key or gw.api_key or "",
           "COLUMNS": "120"}
    return subprocess.run([sys.executable, "-m", "clients", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=120)


def test_readable_output(scripted_gateway: Gateway, square: Square) -> None:
    path, _ = square
    proc = run_cli(scripted_gateway, str(path), "Where is the square?", "--traces", "-n", "2")
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert f"Answer: {ANSWER}" in out and "Confidence: 1.00" in out
    assert "Evidence" in out and "Votes" in out
    for t in EVIDENCE_TIMES:
        assert f"{t:.1f}s" in out  # one evidence row per cited time
    assert "trace 0" in out and "trace 1" in out and "<obj>square</obj>" in out
    assert "upload" in proc.stderr  # the progress bar went to stderr


def test_json_is_a_valid_result(scripted_gateway: Gateway, square: Square) -> None:
    path, truth = square
    proc = run_cli(scripted_gateway, str(path), "Where?", "--json", "--async")
    assert proc.returncode == 0, proc.stderr
    result = ReasonResult.model_validate_json(proc.stdout)  # stdout is JSON only
    assert result.answer == ANSWER
    for e in result.evidence:
        assert box_iou(tuple(e.box), truth.box_at(e.time)) > 0.85  # type: ignore[arg-type]


def test_annotate_draws_boxes_on_the_square(
    scripted_gateway: Gateway, square: Square, tmp_path: Path
) -> None:
    path, _ = square
    out = tmp_path / "evidence.png"
    proc = run_cli(scripted_gateway, str(path), "Where?", "--json", "--annotate", str(out))
    assert proc.returncode == 0, proc.stderr
    result = ReasonResult.model_validate_json(proc.stdout)
    sheet = np.asarray(Image.open(out).convert("RGB"))
    panel_w, xs = panel_slots(sheet.shape[1], len(EVIDENCE_TIMES))  # a panel per evidence time
    panel_h = round(panel_w * 240 / 320)
    colour = np.array(colour_for("square"))
    for i, ev in enumerate(sorted(result.evidence, key=lambda e: e.time)):
        panel = sheet[HEADER_HEIGHT : HEADER_HEIGHT + panel_h, xs[i] : xs[i] + panel_w]
        drawn = pixel_box(ev.box_display_normalized, (panel_w, panel_h))
        square_px = bright_bbox(panel)  # the white square as decoded from the original video
        assert square_px is not None
        assert box_iou(drawn, square_px) > 0.8, (ev.time, drawn, square_px)  # type: ignore[arg-type]
        x1, y1, _x2, y2 = drawn
        edge = panel[(y1 + y2) // 2, x1 + 1]  # the outline's left edge, inside it
        assert np.abs(edge.astype(int) - colour).sum() < 70, edge


def test_gif_option(scripted_gateway: Gateway, square: Square, tmp_path: Path) -> None:
    path, _ = square
    out = tmp_path / "evidence.gif"
    proc = run_cli(scripted_gateway, str(path), "Where?", "--annotate", str(out))
    assert proc.returncode == 0, proc.stderr
    assert Image.open(out).n_frames > 1


EXIT_CASES = [
    # (arguments, api key, expected exit code, expected stderr fragment)
    (["{video}", "q"], "wrong-key", 1, "401"),  # server refuses: exit 1 with its message
    (["/no/such/file.mp4", "q"], None, 2, "no such video file"),  # local problem: exit 2
]


def test_exit_codes(scripted_gateway: Gateway, square: Square) -> None:
    path, _ = square
    for args, key, code, fragment in EXIT_CASES:
        proc = run_cli(scripted_gateway, *[a.format(video=path) for a in args], key=key)
        assert proc.returncode == code, (args, proc.stderr)
        assert fragment in proc.stderr


def test_entry_point_is_installed() -> None:
    exe = Path(sys.executable).parent / "o3-reason"
    proc = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and "--annotate" in proc.stdout and "O3_SERVER" in proc.stdout


def test_wait_row_shows_the_time_the_answer_took(scripted_gateway: Gateway,
                                                square: Square) -> None:
    """After the upload, one row covers the wait for the answer (SLOW holds the model
    2.5 s) with its elapsed time; the upload row keeps its bytes."""
    path, _ = square
    proc = run_cli(scripted_gateway, str(path), "SLOW: where is the square?", "-n", "1")
    assert proc.returncode == 0, proc.stderr
    wait = next(line for line in proc.stderr.splitlines() if "answered" in line)
    assert "0:00:02" in wait or "0:00:03" in wait, proc.stderr
    assert "bytes" not in wait
