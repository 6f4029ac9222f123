"""Evidence pictures of the ORIGINAL video: a PNG contact sheet or an animated GIF clip.

Decoding goes through `service.video` (the project's only PyAV code): `probe_video`
for rotation and duration, `decode_at` for frames in display orientation. So this
module needs the service package installed; the SDK itself does not.

Invariants:
- The PNG has one panel per distinct evidence time (at most `max_panels`), each the
  original frame nearest that time with the evidence boxes of that time drawn on it,
  then a timeline strip with one marker per evidence item.
- The GIF samples the whole video at `fps` (at most `max_frames` frames); a box is
  drawn on every frame within `window` seconds of its evidence time; a playhead moves
  along the timeline strip.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from PIL import Image

from clients.annotate.draw import contact_sheet, draw_boxes, timeline_strip
from clients.sdk.models import Evidence, ReasonResult
from service.video.decode import decode_at
from service.video.probe import VideoInfo, probe_video

FORMATS = (".png", ".gif")


def annotate(
    video: str | Path,
    result: ReasonResult,
    out: str | Path,
    *,
    width: int = 1200,
    max_panels: int = 6,
    fps: float = 4.0,
    max_frames: int = 60,
    window: float = 0.5,
) -> Path:
    """Write the evidence picture for `result` of `video` to `out` (.png or .gif)."""
    out = Path(out)
    if out.suffix.lower() not in FORMATS:
        raise ValueError(f"--annotate writes {' or '.join(FORMATS)}, not {out.suffix!r}")
    info = probe_video(video)
    if out.suffix.lower() == ".gif":
        _write_gif(video, info, result, out, width, fps, max_frames, window)
    else:
        _write_png(video, info, result, out, width, max_panels)
    return out


def group_by_time(items: Sequence[Evidence], tol: float = 0.05) -> list[list[Evidence]]:
    """Evidence items grouped by (nearly) equal time, in time order."""
    groups: list[list[Evidence]] = []
    for item in sorted(items, key=lambda e: e.time):
        if groups and abs(groups[-1][0].time - item.time) <= tol:
            groups[-1].append(item)
        else:
            groups.append([item])
    return groups


def _write_png(
    video: str | Path,
    info: VideoInfo,
    result: ReasonResult,
    out: Path,
    width: int,
    max_panels: int,
) -> None:
    groups = group_by_time(result.evidence)[:max_panels]
    times = [g[0].time for g in groups] or [info.duration / 2]
    frames = _decode(video, info, times, width // min(3, len(times)), upscale=True)
    panels = [draw_boxes(f, g) for f, g in zip(frames, groups, strict=False)] or frames
    strip = timeline_strip(info.duration, result.evidence, width)
    contact_sheet(panels, strip, _header(result)).save(out, format="PNG")


def _write_gif(
    video: str | Path,
    info: VideoInfo,
    result: ReasonResult,
    out: Path,
    width: int,
    fps: float,
    max_frames: int,
    window: float,
) -> None:
    count = max(1, min(max_frames, int(info.duration * fps)))
    times = [info.duration * (i + 0.5) / count for i in range(count)]
    gif_width = min(width, 640)
    frames = _decode(video, info, times, panel_width=gif_width)
    shots = []
    for t, frame in zip(times, frames, strict=True):
        near = [e for e in result.evidence if abs(e.time - t) <= window]
        strip = timeline_strip(info.duration, result.evidence, frame.width, playhead=t)
        shots.append(_stack(draw_boxes(frame, near), strip))
    duration_ms = max(20, round(1000 / fps))
    shots[0].save(
        out, format="GIF", save_all=True, append_images=shots[1:], duration=duration_ms, loop=0
    )


def _decode(
    video: str | Path,
    info: VideoInfo,
    times: Sequence[float],
    panel_width: int,
    *,
    upscale: bool = False,
) -> list[Image.Image]:
    """Frames nearest `times` (in the given order), display orientation, ~panel_width wide.

    Boxes are drawn after this resize, so outlines stay sharp at any output size.
    """
    dw, dh = info.display_size
    scale = panel_width / dw if upscale else min(1.0, panel_width / dw)
    size = (max(2, round(dw * scale / 2) * 2), max(2, round(dh * scale / 2) * 2))
    order = sorted(range(len(times)), key=lambda i: times[i])
    decoded, _ = decode_at(video, info, [times[i] for i in order], size)
    frames: list[Image.Image] = [Image.new("RGB", size)] * len(times)
    for i, frame in zip(order, decoded, strict=True):
        frames[i] = frame.image
    return frames


def _stack(top: Image.Image, bottom: Image.Image) -> Image.Image:
    sheet = Image.new("RGB", (top.width, top.height + bottom.height))
    sheet.paste(top, (0, 0))
    sheet.paste(bottom, (0, top.height))
    return sheet


def _header(result: ReasonResult) -> str:
    answer = result.answer if result.answer is not None else "(no answer)"
    return (
        f"answer: {answer}   confidence: {result.confidence:.2f}   "
        f"evidence: {len(result.evidence)}   task: {result.task}"
    )
