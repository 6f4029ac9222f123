"""What a checkpoint directory is, without loading it; and the context-limit advice.

Owns:
- `inspect_checkpoint(path)`: the model id, a content revision, whether the directory
  is the project's random tiny model, the text context length, and the frame policy it
  was trained with -- read from the Hugging Face layout (config.json, weights index)
  and `training_config.json` with json and hashlib only, so the gateway can label
  answers without importing torch.
- `too_long_advice(...)`: the one wording of "your prompt is too long, drop this
  many frames or shrink to this many pixels", shared by every backend.

Invariants:
- `revision` changes when config.json or the weights change: it is a sha256 over
  config.json, the weights index (sharded checkpoints) and every weights file: the
  whole file when it is small (<= 64 MiB, e.g. the tiny model), else its size, its
  safetensors header and 16 blocks of 64 KiB spread over the tensor data (hashing
  15 GB at start-up is not an option; size + header alone stay the same when a
  fine-tune changes values but not shapes, and any training step changes the values
  everywhere).
- `random_tiny_model` is true only for the UNTRAINED random build: the tiny marker
  (config key or marker file) without a `training_config.json` (which `training/`
  writes next to every checkpoint it trains, the tiny one included).
- `frames` is the training run's `data` section (frame count, short-video rule, pixel
  budget) when `training_config.json` has one; None otherwise.
- Nothing here imports torch, transformers or PIL.
"""

from __future__ import annotations

import hashlib
import json
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

TINY_MARKER_KEY = "o3_random_tiny_model"
TINY_MARKER_FILE = "TINY_MODEL.txt"
TRAINING_CONFIG_FILE = "training_config.json"
PIXELS_PER_TOKEN = 28 * 28  # one merged Qwen2.5-VL vision token covers 28x28 pixels
_SMALL_WEIGHTS = 64 * 1024 * 1024
_SAMPLES, _SAMPLE_BYTES = 16, 64 * 1024  # blocks of a large weights file in its revision


class CheckpointError(ValueError):
    """The directory is not a loadable Hugging Face checkpoint; the message says why."""


@dataclass(frozen=True)
class TrainedFrames:
    """The frame policy a checkpoint was trained with (`training_config.json` `data`)."""

    num_frames: int
    short_video_s: float
    short_fps: float
    min_frames: int
    max_frames: int
    min_pixels: int
    max_pixels: int


@dataclass(frozen=True)
class CheckpointInfo:
    path: Path
    model_id: str
    revision: str
    random_tiny_model: bool
    max_positions: int | None  # text context length, when config.json states one
    model_type: str
    trained: bool = False  # a training run wrote training_config.json here
    frames: TrainedFrames | None = None


def inspect_checkpoint(path: Path | str) -> CheckpointInfo:
    """Read a checkpoint directory's identity; raises `CheckpointError` if it is not one."""
    root = Path(path).expanduser().resolve()
    config = _read_config(root)
    text = config.get("text_config") or {}
    max_pos = text.get("max_position_embeddings", config.get("max_position_embeddings"))
    tiny = bool(config.get(TINY_MARKER_KEY)) or (root / TINY_MARKER_FILE).exists()
    trained = (root / TRAINING_CONFIG_FILE).is_file()
    return CheckpointInfo(
        path=root,
        model_id=root.name,
        revision=_revision(root),
        random_tiny_model=tiny and not trained,
        max_positions=int(max_pos) if max_pos else None,
        model_type=str(config.get("model_type", "")),
        trained=trained,
        frames=trained_frames(root) if trained else None,
    )


def trained_frames(root: Path) -> TrainedFrames | None:
    """The `data` frame settings of `root/training_config.json`; None when absent or
    unreadable (a checkpoint still serves with the settings' defaults)."""
    try:
        data = json.loads((root / TRAINING_CONFIG_FILE).read_text(encoding="utf-8"))["data"]
        return TrainedFrames(
            num_frames=int(data["num_frames"]), short_video_s=float(data["short_video_s"]),
            short_fps=float(data["short_fps"]), min_frames=int(data["min_frames"]),
            max_frames=int(data["max_frames"]), min_pixels=int(data["min_pixels"]),
            max_pixels=int(data["max_pixels"]))
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _read_config(root: Path) -> dict[str, Any]:
    if not root.is_dir():
        raise CheckpointError(f"checkpoint {root} is not a directory")
    config_path = root / "config.json"
    if not config_path.is_file():
        raise CheckpointError(f"checkpoint {root} has no config.json (Hugging Face layout)")
    try:
        loaded = json.loads(config_path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise CheckpointError(f"cannot read {config_path}: {exc}") from exc
    if not isinstance(loaded, dict):
        raise CheckpointError(f"{config_path} is not a JSON object")
    return loaded


def _revision(root: Path) -> str:
    digest = hashlib.sha256((root / "config.json").read_bytes())
    index = root / "model.safetensors.index.json"
    single = root / "model.safetensors"
    if index.is_file():
        digest.update(index.read_bytes())
        try:
            shards = sorted(set(json.loads(index.read_text())["weight_map"].values()))
        except (ValueError, KeyError, TypeError, AttributeError):
            shards = []
        for shard in shards:
            if (root / shard).is_file():
                digest.update(_weights_fingerprint(root / shard))
    elif single.is_file():
        digest.update(_weights_fingerprint(single))
    return digest.hexdigest()[:16]


def _weights_fingerprint(weights: Path) -> bytes:
    size = weights.stat().st_size
    if size <= _SMALL_WEIGHTS:
        return weights.read_bytes()
    with weights.open("rb") as fh:
        header_len = int.from_bytes(fh.read(8), "little")
        parts = [size.to_bytes(8, "little"), fh.read(min(header_len, _SMALL_WEIGHTS))]
        start = 8 + header_len
        step = max(1, (size - start) // _SAMPLES)
        for i in range(_SAMPLES):
            fh.seek(min(size - 1, start + i * step))
            parts.append(fh.read(_SAMPLE_BYTES))
        return b"".join(parts)


def too_long_advice(
    prompt_tokens: int,
    limit: int,
    n_images: int,
    tokens_per_image: float,
) -> str:
    """Say how many frames to drop, or which pixel budget to use, to fit `limit` tokens.

    `prompt_tokens` is what the prompt needs, `limit` what the model allows for it;
    `tokens_per_image` the mean vision tokens per frame (0 if unknown).
    """
    excess = prompt_tokens - limit
    head = f"the prompt needs {prompt_tokens} tokens but the model allows {limit}"
    if n_images <= 0 or tokens_per_image <= 0:
        return f"{head}; shorten the question"
    drop = min(n_images, math.ceil(excess / tokens_per_image))
    text_tokens = prompt_tokens - n_images * tokens_per_image
    per_image = math.floor((limit - text_tokens) / n_images)
    advice = f"{head}: drop at least {drop} of {n_images} frames (about "
    advice += f"{tokens_per_image:.0f} tokens each)"
    if per_image >= 4:
        advice += f", or lower max_pixels to {per_image * PIXELS_PER_TOKEN} per frame"
    return advice
