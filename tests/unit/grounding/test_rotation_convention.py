"""Ground truth for geometry's rotation convention: PyAV's sign and ffmpeg's display.

geometry.py documents `rotation = (-frame.rotation) % 360`, clockwise. This test writes a
real clip with a display matrix, reads PyAV's `frame.rotation`, and checks where the
ffmpeg command line (which applies the display matrix, autorotate) shows a marker that
sits in the coded frame's top-left corner, against `geometry.coded_to_display`.
"""

from __future__ import annotations

import io
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from service.grounding import geometry as geo

av = pytest.importorskip("av")
np = pytest.importorskip("numpy")

W, H, MARK = 64, 32, 8


def write_clip(path: Path, ccw_degrees: int) -> None:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        stream.set_display_rotation(ccw_degrees)
        frame = np.zeros((H, W, 3), np.uint8)
        frame[:MARK, :MARK] = 255
        for _ in range(2):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())


def ffmpeg_marker_box(path: Path) -> tuple[tuple[int, int], tuple[float, ...]]:
    """(display size, marker box) of the first frame as ffmpeg shows it (as a PNG)."""
    out = subprocess.run(
        ["ffmpeg", "-loglevel", "error", "-i", str(path), "-frames:v", "1",
         "-f", "image2pipe", "-c:v", "png", "-"],
        check=True, capture_output=True,
    ).stdout
    image = Image.open(io.BytesIO(out)).convert("L")
    ys, xs = np.nonzero(np.asarray(image) > 128)
    return image.size, (float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1))


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg command line")
@pytest.mark.parametrize("ccw", [0, 90, 180, -90])
def test_pyav_sign_and_ffmpeg_display_match_geometry(tmp_path: Path, ccw: int) -> None:
    path = tmp_path / "clip.mp4"
    write_clip(path, ccw)
    with av.open(str(path)) as c:
        pyav_rotation = next(c.decode(video=0)).rotation
    assert pyav_rotation % 360 == ccw % 360  # PyAV reads back the counter-clockwise angle
    rotation = (-pyav_rotation) % 360  # the documented conversion
    (dw, dh), marker = ffmpeg_marker_box(path)
    assert (dw, dh) == ((H, W) if rotation % 180 else (W, H))
    expected = geo.coded_to_display((0, 0, MARK, MARK), (W, H), rotation)
    assert marker == pytest.approx(expected, abs=1.0)  # chroma subsampling blurs one pixel
