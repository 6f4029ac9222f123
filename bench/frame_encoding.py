"""How frames should travel to vLLM: the pixel error and the cost of each encoding.

Owns one measurement. A natural photograph (matplotlib's bundled `grace_hopper.jpg`)
is panned and zoomed into an H.264 video with PyAV; the project's own sampler decodes
16 frames at the training size (<= 100,352 px, SPEC 1): those are the RAW frames the
local backend feeds the model. Each is then encoded as vLLM would receive it (PNG, or
JPEG at several qualities: `service.inference.images.to_data_url`) and decoded back
(`from_data_url`, what the stand-in and vLLM's PIL loader do), and compared with the
raw frame: mean absolute error and max error (0..255 per channel), PSNR, bytes per
frame, encode milliseconds. All side by side in one run.

    python -m bench.frame_encoding [--frames 16] [--max-pixels 100352]

Invariants: PNG must round-trip exactly (max error 0); the script says so or fails.
"""

from __future__ import annotations

import argparse
import math
import tempfile
import time
from pathlib import Path

import av
import numpy as np
from PIL import Image

from service.inference.images import from_data_url, to_data_url
from service.video.policy import FramePolicy
from service.video.sampler import sample_video

FORMATS = (("PNG", 100), ("JPEG", 100), ("JPEG", 95), ("JPEG", 90), ("JPEG", 75))


def photo() -> Image.Image:
    import matplotlib

    path = Path(matplotlib.get_data_path()) / "sample_data" / "grace_hopper.jpg"
    return Image.open(path).convert("RGB")


def write_pan_video(path: Path, seconds: float = 8.0, fps: int = 25) -> None:
    """A 1280x720 H.264 video panning and zooming over the photograph."""
    src = photo().resize((1600, 1800), Image.Resampling.BICUBIC)
    with av.open(str(path), "w") as out:
        stream = out.add_stream("h264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = 1280, 720, "yuv420p"
        frames = int(seconds * fps)
        for i in range(frames):
            s = i / max(1, frames - 1)
            w, h = int(1280 * (1.2 - 0.2 * s)), int(720 * (1.2 - 0.2 * s))
            x, y = int(s * (src.width - w)), int(s * (src.height - h) * 0.7)
            crop = src.crop((x, y, x + w, y + h)).resize((1280, 720))
            out.mux(stream.encode(av.VideoFrame.from_image(crop)))
        out.mux(stream.encode(None))


def measure(frames: list[Image.Image], fmt: str, quality: int) -> dict[str, float]:
    errors, maxima, sizes, ms = [], [], [], []
    for raw in frames:
        t0 = time.perf_counter()
        url = to_data_url(raw, fmt=fmt, quality=quality)
        ms.append((time.perf_counter() - t0) * 1000)
        sizes.append(len(url) * 3 / 4)
        back = np.asarray(from_data_url(url), dtype=np.int16)
        diff = np.abs(back - np.asarray(raw, dtype=np.int16))
        errors.append(float(diff.mean()))
        maxima.append(int(diff.max()))
    mse = float(np.mean([e ** 2 for e in errors])) or 0.0
    return {"mae": float(np.mean(errors)), "max": float(max(maxima)),
            "psnr": math.inf if mse == 0 else 20 * math.log10(255 / math.sqrt(mse)),
            "kib": float(np.mean(sizes)) / 1024, "ms": float(np.mean(ms))}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--max-pixels", type=int, default=128 * 28 * 28)
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        video = Path(tmp) / "pan.mp4"
        write_pan_video(video)
        policy = FramePolicy(num_frames=args.frames, max_pixels=args.max_pixels)
        sampled = sample_video(video, policy)
    frames = sampled.frameset.frames
    w, h = frames[0].size
    print(f"{len(frames)} raw frames of {w}x{h} from an H.264 pan over a photograph")
    print(f"{'encoding':<10} {'mean |err|':>10} {'max |err|':>9} {'PSNR dB':>8} "
          f"{'KiB/frame':>9} {'ms/frame':>8}")
    for fmt, quality in FORMATS:
        r = measure(frames, fmt, quality)
        name = fmt if fmt == "PNG" else f"JPEG q{quality}"
        print(f"{name:<10} {r['mae']:>10.3f} {r['max']:>9.0f} {r['psnr']:>8.1f} "
              f"{r['kib']:>9.1f} {r['ms']:>8.2f}")
        if fmt == "PNG" and r["max"] != 0:
            raise SystemExit("PNG did not round-trip exactly")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
