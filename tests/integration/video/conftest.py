"""Generated videos for the video tests, written once per session with PyAV."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import pytest

from service.video import synth
from service.video.synth import MovingSquareTruth

# name -> how to write it. Small and short so the whole set takes well under a second.
GOOD_VIDEOS: dict[str, dict[str, object]] = {
    "h264.mp4": {"codec": "h264"},
    "vp9.webm": {"codec": "vp9"},
    "mpeg4.avi": {"codec": "mpeg4"},
    "mpeg4.mp4": {"codec": "mpeg4"},
    "rot90.mp4": {"codec": "h264", "rotation": 90},
    "rot180.mp4": {"codec": "h264", "rotation": 180},
    "rot270.mp4": {"codec": "h264", "rotation": 270},
    "vfr.mp4": {"codec": "h264", "vfr": True, "duration": 3.0},
    "audio.mp4": {"codec": "h264", "audio": True},
    "audio.webm": {"codec": "vp9", "audio": True},
    "long_gop.mp4": {"codec": "h264", "duration": 12.0, "gop": 90, "width": 128, "height": 96},
    "short_gop.mp4": {"codec": "h264", "duration": 10.0, "gop": 15, "width": 128, "height": 96},
    # variable frame rate with B-frames and many GOPs: per-keyframe pts offsets differ
    "vfr_gop.mp4": {"codec": "h264", "vfr": True, "duration": 20.0, "gop": 30,
                    "width": 128, "height": 96},
}


@pytest.fixture(scope="session")
def video_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("videos")


@pytest.fixture(scope="session")
def videos(video_dir: Path) -> dict[str, tuple[Path, MovingSquareTruth]]:
    out = {}
    for name, kwargs in GOOD_VIDEOS.items():
        path = video_dir / name
        out[name] = (path, synth.write_moving_square(path, **kwargs))  # type: ignore[arg-type]
    return out


@pytest.fixture(scope="session")
def bad_file(video_dir: Path) -> Callable[[str, Callable[[Path], object]], Path]:
    def make(name: str, writer: Callable[[Path], object]) -> Path:
        path = video_dir / name
        if not path.exists():
            writer(path)
        return path

    return make
