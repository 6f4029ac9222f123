"""Generate videos whose content is known exactly, with PyAV (tests, demos, benches,
training's synthetic data).

Owns `Scene`/`SceneObject` (shapes that appear, move along waypoints and disappear),
`write_scene` and its shortcut `write_moving_square`, and writers of bad files
(zero bytes, random bytes, truncated MP4, audio only, still image, no frames, raw
stream without timestamps).

Invariants:
- Truth boxes are `(x1, y1, x2, y2)` in CODED-frame pixels, pixel edges (a box
  (2, 3, 12, 13) fills columns 2..11 and rows 3..12), exactly as drawn in the frame
  shown at time t (the last frame whose pts <= t). `display_boxes_at` gives them in
  display orientation for a `rotation` written as container display-matrix metadata
  (degrees clockwise the player rotates the frame; the service's convention).
- The container is chosen from the suffix (.mp4, .mkv, .webm, .avi, .mov); the codec
  from `codec` ("h264", "vp9", "mpeg4"). Small sizes by default, so tests stay fast.
"""

from __future__ import annotations

import bisect
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Literal

import av
import numpy as np
from av.audio.stream import AudioStream
from av.container import OutputContainer
from av.video.stream import VideoStream
from PIL import Image

from service.grounding.geometry import coded_to_display
from service.grounding.types import Box

Color = tuple[int, int, int]
Shape = Literal["rect", "ellipse"]
CodecName = Literal["h264", "vp9", "mpeg4"]

_ENCODERS = {"h264": "libx264", "vp9": "libvpx-vp9", "mpeg4": "mpeg4"}
_VFR_STEPS = (1 / 30, 1 / 15, 1 / 10, 1 / 24)  # frame intervals a VFR video cycles through


@dataclass(frozen=True)
class SceneObject:
    """A filled shape of `size` (w, h) whose top-left follows `path` waypoints.

    `path` is `((t, x, y), ...)`; the position is linearly interpolated between
    waypoints and held before the first / after the last. Visible on [appear, disappear).
    """

    name: str
    color: Color
    size: tuple[int, int]
    path: tuple[tuple[float, float, float], ...]
    shape: Shape = "rect"
    appear: float = 0.0
    disappear: float = math.inf

    def box_at(self, t: float) -> Box | None:
        """The drawn box at time t in coded pixels, or None when not visible."""
        if not self.appear <= t < self.disappear:
            return None
        x, y = _interpolate(self.path, t)
        x1, y1 = round(x), round(y)
        return (float(x1), float(y1), float(x1 + self.size[0]), float(y1 + self.size[1]))


@dataclass(frozen=True)
class Scene:
    width: int
    height: int
    duration: float
    objects: tuple[SceneObject, ...]
    background: Color = (0, 0, 0)
    texture: bool = False  # a panning noise background: makes decoding cost realistic
    cue_s: float = 0.0
    """> 0: paint a position-and-time cue as the background (red rises with x, green with
    y, blue with t, reaching its top at `cue_s` seconds), so where and when are visible
    in every patch's pixels, as a burned-in clock makes time visible in real footage;
    a model reads them from what it sees instead of from positional encodings alone."""


@dataclass(frozen=True)
class SceneTruth:
    """What was written: the frame times and where every object is in each frame."""

    scene: Scene
    frame_times: tuple[float, ...]
    rotation: int = 0
    keyframe_interval: int | None = None

    def frame_time_at(self, t: float) -> float:
        i = max(0, bisect.bisect_right(self.frame_times, t + 1e-9) - 1)
        return self.frame_times[i]

    def boxes_at(self, t: float) -> dict[str, Box]:
        """Coded-pixel boxes of the objects visible in the frame shown at time t."""
        ft = self.frame_time_at(t)
        return {o.name: b for o in self.scene.objects if (b := o.box_at(ft)) is not None}

    def display_boxes_at(self, t: float) -> dict[str, Box]:
        """The same boxes in display orientation (after the player's rotation)."""
        size = (self.scene.width, self.scene.height)
        return {k: coded_to_display(b, size, self.rotation) for k, b in self.boxes_at(t).items()}


@dataclass(frozen=True)
class MovingSquareTruth(SceneTruth):
    square: str = field(default="square")

    def box_at(self, t: float) -> Box:
        return self.boxes_at(t)[self.square]

    def display_box_at(self, t: float) -> Box:
        return self.display_boxes_at(t)[self.square]


def _interpolate(path: Sequence[tuple[float, float, float]], t: float) -> tuple[float, float]:
    times = [p[0] for p in path]
    i = bisect.bisect_right(times, t)
    if i == 0:
        return path[0][1], path[0][2]
    if i == len(path):
        return path[-1][1], path[-1][2]
    (t0, x0, y0), (t1, x1, y1) = path[i - 1], path[i]
    a = (t - t0) / (t1 - t0) if t1 > t0 else 1.0
    return x0 + a * (x1 - x0), y0 + a * (y1 - y0)


def moving_square_scene(
    width: int, height: int, duration: float, square_size: int, color: Color, seed: int
) -> Scene:
    """A square bouncing corner to corner (seed picks the corner order)."""
    rng = np.random.default_rng(seed)
    xs, ys = width - square_size, height - square_size
    corners = [(0.0, 0.0), (float(xs), float(ys)), (float(xs), 0.0), (0.0, float(ys))]
    order = [corners[i] for i in rng.permutation(4)]
    legs = max(1, math.ceil(duration / 2.0))  # one leg every 2 s
    path = tuple((min(duration, 2.0 * k), *order[k % 4]) for k in range(legs + 1))
    obj = SceneObject("square", color, (square_size, square_size), path)
    return Scene(width, height, duration, (obj,))


def write_moving_square(
    path: str | Path,
    *,
    codec: CodecName = "h264",
    width: int = 160,
    height: int = 120,
    fps: float = 30.0,
    duration: float = 2.0,
    rotation: int = 0,
    vfr: bool = False,
    audio: bool = False,
    gop: int | None = None,
    square_size: int = 24,
    color: Color = (255, 0, 0),
    seed: int = 0,
    texture: bool = False,
    preset: str = "veryfast",
) -> MovingSquareTruth:
    """Write a video of one square moving between corners; its truth at every time."""
    scene = moving_square_scene(width, height, duration, square_size, color, seed)
    if texture:
        scene = Scene(width, height, duration, scene.objects, texture=True)
    truth = write_scene(path, scene, codec=codec, fps=fps, rotation=rotation, vfr=vfr,
                        audio=audio, gop=gop, seed=seed, preset=preset)
    return MovingSquareTruth(truth.scene, truth.frame_times, truth.rotation,
                             truth.keyframe_interval)


def frame_times_for(duration: float, fps: float, vfr: bool, seed: int) -> list[float]:
    """Constant-rate times k/fps, or irregular intervals (seeded) for VFR."""
    if not vfr:
        return [k / fps for k in range(max(1, round(duration * fps)))]
    rng = np.random.default_rng(seed)
    times, t = [], 0.0
    while t < duration:
        times.append(round(t, 3))
        t += float(rng.choice(_VFR_STEPS))
    return times


def write_scene(
    path: str | Path,
    scene: Scene,
    *,
    codec: CodecName = "h264",
    fps: float = 30.0,
    rotation: int = 0,
    vfr: bool = False,
    audio: bool = False,
    gop: int | None = None,
    seed: int = 0,
    preset: str = "veryfast",
) -> SceneTruth:
    """Encode `scene` to `path`; returns the frame times and per-object truth."""
    times = frame_times_for(scene.duration, fps, vfr, seed)
    painter = _Painter(scene, seed)
    with av.open(str(path), mode="w") as container:
        stream = _video_stream(container, scene, codec, fps, vfr, gop, preset)
        if rotation:
            stream.set_display_rotation(-rotation)  # PyAV takes counter-clockwise degrees
        audio_stream = _audio_stream(container, Path(path)) if audio else None
        for t in times:
            frame = av.VideoFrame.from_ndarray(painter.paint(t), format="rgb24")
            frame.pts = round(t * 1000) if vfr else round(t * fps)
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
        if audio_stream is not None:
            _write_tone(container, audio_stream, scene.duration)
    return SceneTruth(scene, tuple(times), rotation, gop)


def _video_stream(
    container: OutputContainer, scene: Scene, codec: CodecName, fps: float,
    vfr: bool, gop: int | None, preset: str,
) -> VideoStream:
    rate = Fraction(fps).limit_denominator(1001)
    options = {"preset": preset, "x264-params": "scenecut=0"} if codec == "h264" else {}
    stream = container.add_stream(_ENCODERS[codec], rate=rate, options=options)
    assert isinstance(stream, VideoStream)
    stream.width, stream.height, stream.pix_fmt = scene.width, scene.height, "yuv420p"
    stream.codec_context.time_base = Fraction(1, 1000) if vfr else 1 / rate
    if gop is not None:
        stream.codec_context.gop_size = gop
    return stream


def _audio_stream(
    container: OutputContainer, path: Path
) -> AudioStream:
    codec = "libopus" if path.suffix == ".webm" else "aac"
    stream = container.add_stream(codec, rate=48000)
    assert isinstance(stream, AudioStream)
    stream.layout = "mono"
    return stream


def _write_tone(
    container: OutputContainer, stream: AudioStream, seconds: float
) -> None:
    rate, n = 48000, 960
    for k in range(math.ceil(seconds * rate / n)):
        t = (np.arange(n) + k * n) / rate
        samples = (0.2 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)[None, :]
        frame = av.AudioFrame.from_ndarray(samples, format="flt", layout="mono")
        frame.sample_rate, frame.pts = rate, k * n
        container.mux(stream.encode(frame))
    container.mux(stream.encode(None))


class _Painter:
    """Renders a scene at time t as an RGB array (H, W, 3) uint8."""

    def __init__(self, scene: Scene, seed: int) -> None:
        self.scene = scene
        h, w = scene.height, scene.width
        rng = np.random.default_rng(seed)
        self.texture = (
            rng.integers(40, 90, size=(h, 2 * w, 1), dtype=np.uint8).repeat(3, axis=2)
            if scene.texture else None
        )
        yy, xx = np.mgrid[0:h, 0:w]
        self.grid = (yy, xx)
        self.cue = None
        if scene.cue_s > 0:
            self.cue = np.zeros((h, w, 3), np.uint8)
            self.cue[..., 0] = (60 + 100 * (xx + 0.5) / w).astype(np.uint8)
            self.cue[..., 1] = (60 + 100 * (yy + 0.5) / h).astype(np.uint8)

    def paint(self, t: float) -> np.ndarray:
        s = self.scene
        if self.cue is not None:
            img = self.cue.copy()
            img[..., 2] = round(60 + 100 * min(max(t / s.cue_s, 0.0), 1.0))
        elif self.texture is not None:
            shift = int(t * 30) % s.width  # pans one column per 1/30 s
            img = np.ascontiguousarray(self.texture[:, shift:shift + s.width])
        else:
            img = np.empty((s.height, s.width, 3), np.uint8)
            img[:] = s.background
        for obj in s.objects:
            box = obj.box_at(t)
            if box is not None:
                self._draw(img, obj, box)
        return img

    def _draw(self, img: np.ndarray, obj: SceneObject, box: Box) -> None:
        x1, y1, x2, y2 = (int(v) for v in box)
        if obj.shape == "rect":
            img[max(0, y1):max(0, y2), max(0, x1):max(0, x2)] = obj.color
            return
        yy, xx = self.grid
        cx, cy, rx, ry = (x1 + x2) / 2, (y1 + y2) / 2, (x2 - x1) / 2, (y2 - y1) / 2
        mask = ((xx + 0.5 - cx) / rx) ** 2 + ((yy + 0.5 - cy) / ry) ** 2 <= 1.0
        img[mask] = obj.color


# ---- bad files ------------------------------------------------------------------------


def write_zero_byte(path: str | Path) -> Path:
    Path(path).write_bytes(b"")
    return Path(path)


def write_random_bytes(path: str | Path, size: int = 4096, seed: int = 0) -> Path:
    Path(path).write_bytes(np.random.default_rng(seed).bytes(size))
    return Path(path)


def write_truncated_mp4(path: str | Path, *, keep: float = 0.5, faststart: bool = False) -> Path:
    """An H.264 MP4 cut to `keep` of its bytes (index lost, or data lost if faststart)."""
    path = Path(path)
    full = path.with_name(path.stem + ".full.mp4")
    write_moving_square(full, duration=2.0)
    if faststart:
        remux(full, path, options={"movflags": "+faststart"})
        full.unlink()
        full = path
    data = full.read_bytes()
    path.write_bytes(data[: int(len(data) * keep)])
    if full != path:
        full.unlink()
    return path


def remux(src: Path, dst: Path, *, options: dict[str, str] | None = None,
           metadata: dict[str, str] | None = None) -> None:
    """Copy `src`'s video stream into `dst` (no re-encoding), with muxer `options` and
    container `metadata`."""
    with av.open(str(src)) as inp, av.open(str(dst), "w", options=options or {}) as out:
        out.metadata.update(metadata or {})
        in_stream = inp.streams.video[0]
        out_stream = out.add_stream_from_template(in_stream)
        for packet in inp.demux(in_stream):
            if packet.dts is not None:
                packet.stream = out_stream
                out.mux(packet)


def write_latin1_title(path: str | Path) -> Path:
    """A good MP4 whose title tag is Latin-1, not UTF-8 (`caf\\xe9`), as old cameras
    and Windows taggers write it: the video is fine, the metadata is not valid UTF-8."""
    path = Path(path)
    plain = path.with_name(path.stem + ".plain.mp4")
    write_moving_square(plain, width=64, height=48, duration=0.5)
    remux(plain, path, metadata={"title": "caf\u00e9!"})
    plain.unlink()
    data = path.read_bytes()
    utf8, latin1 = "caf\u00e9!".encode(), "caf\u00e9!".encode("latin-1") + b" "
    assert data.count(utf8) == 1 and len(utf8) == len(latin1)
    path.write_bytes(data.replace(utf8, latin1))
    return path


def write_audio_only(path: str | Path, seconds: float = 1.0) -> Path:
    """An AAC-in-MP4 (.m4a) file with no video stream."""
    with av.open(str(path), mode="w", format="mp4") as container:
        stream = _audio_stream(container, Path(path))
        _write_tone(container, stream, seconds)
    return Path(path)


def write_still_image(path: str | Path, size: tuple[int, int] = (64, 48)) -> Path:
    """A PNG or JPEG (from the suffix) with a red square on it."""
    img = Image.new("RGB", size, (0, 0, 0))
    img.paste((255, 0, 0), (8, 8, 24, 24))
    img.save(path)
    return Path(path)


def write_no_frames(path: str | Path) -> Path:
    """A well-formed MP4 whose H.264 sample data is zeroed: nothing in it decodes."""
    path = Path(path)
    write_moving_square(path, width=64, height=48, duration=0.5)
    data = bytearray(path.read_bytes())
    start = data.index(b"mdat") + 4
    size = int.from_bytes(data[start - 8:start - 4], "big")
    data[start:start - 8 + size] = bytes(size - 8)
    path.write_bytes(bytes(data))
    return path


def write_unknown_codec(path: str | Path) -> Path:
    """A Matroska file whose codec id names no codec (`V_MPEG4/ISO/XYZ`): a video
    stream that FFmpeg demuxes but has no decoder for."""
    path = Path(path)
    write_moving_square(path, width=64, height=48, duration=0.5)
    data = path.read_bytes()
    assert data.count(b"V_MPEG4/ISO/AVC") == 1
    path.write_bytes(data.replace(b"V_MPEG4/ISO/AVC", b"V_MPEG4/ISO/XYZ"))
    return path


def write_raw_h264(path: str | Path, frames: int = 10) -> Path:
    """An Annex-B H.264 elementary stream: frames, but no container timestamps."""
    with av.open(str(path), mode="w", format="h264") as container:
        stream = container.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "yuv420p"
        for _ in range(frames):
            img = np.zeros((48, 64, 3), np.uint8)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        container.mux(stream.encode(None))
    return Path(path)
