"""checkpoint.py: identity of a checkpoint directory, and the too-long advice."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.inference.checkpoint import CheckpointError, inspect_checkpoint, too_long_advice


def _write(root: Path, config: dict[str, object], weights: bytes = b"w") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "config.json").write_text(json.dumps(config))
    (root / "model.safetensors").write_bytes(weights)
    return root


def test_identity_fields(tmp_path: Path) -> None:
    info = inspect_checkpoint(_write(tmp_path / "Open-o3-Video", {
        "model_type": "qwen2_5_vl", "text_config": {"max_position_embeddings": 128000}}))
    assert info.model_id == "Open-o3-Video"
    assert info.model_type == "qwen2_5_vl"
    assert info.max_positions == 128000
    assert info.random_tiny_model is False
    assert len(info.revision) == 16


def test_revision_follows_config_and_weights(tmp_path: Path) -> None:
    a = inspect_checkpoint(_write(tmp_path / "a", {"x": 1}, b"weights-1")).revision
    same = inspect_checkpoint(_write(tmp_path / "b", {"x": 1}, b"weights-1")).revision
    other_weights = inspect_checkpoint(_write(tmp_path / "c", {"x": 1}, b"weights-2")).revision
    other_config = inspect_checkpoint(_write(tmp_path / "d", {"x": 2}, b"weights-1")).revision
    assert a == same
    assert len({a, other_weights, other_config}) == 3


def test_sharded_checkpoints_hash_the_index(tmp_path: Path) -> None:
    root = _write(tmp_path / "s", {"x": 1})
    (root / "model.safetensors").unlink()
    (root / "model.safetensors.index.json").write_text('{"weight_map": {"a": "1"}}')
    first = inspect_checkpoint(root).revision
    (root / "model.safetensors.index.json").write_text('{"weight_map": {"a": "2"}}')
    assert inspect_checkpoint(root).revision != first


def _big_safetensors(path: Path, fill: int, size: int = 70 * 1024 * 1024) -> None:
    """A weights file over the 64 MiB whole-file limit: same header and size, values
    `fill` (what a fine-tune step does to a checkpoint: same shapes, new numbers)."""
    header = b'{"w":{"dtype":"BF16","shape":[1],"data_offsets":[0,2]}}'
    with path.open("wb") as fh:
        fh.write(len(header).to_bytes(8, "little") + header)
        fh.write(bytes([fill]) * (size - 8 - len(header)))


def test_large_sharded_weights_changed_in_place_change_the_revision(tmp_path: Path) -> None:
    """Same index, same shard sizes and headers, new values: a new revision (the index
    alone, or size + header, would serve the old weights' cached answers)."""
    root = _write(tmp_path / "big", {"x": 1})
    (root / "model.safetensors").unlink()
    (root / "model.safetensors.index.json").write_text(
        '{"weight_map": {"a": "model-00001-of-00001.safetensors"}}')
    _big_safetensors(root / "model-00001-of-00001.safetensors", fill=1)
    first = inspect_checkpoint(root).revision
    assert inspect_checkpoint(root).revision == first  # stable
    _big_safetensors(root / "model-00001-of-00001.safetensors", fill=2)
    assert inspect_checkpoint(root).revision != first


MARKERS = [
    # the key service.inference.tiny writes into config.json
    ({"o3_random_tiny_model": True}, False, True),
    # the marker file alone is enough
    ({}, True, True),
    # neither: a real checkpoint
    ({}, False, False),
]


@pytest.mark.parametrize(("config", "marker_file", "tiny"), MARKERS)
def test_tiny_marker(tmp_path: Path, config: dict[str, object], marker_file: bool,
                     tiny: bool) -> None:
    root = _write(tmp_path / "m", config)
    if marker_file:
        (root / "TINY_MODEL.txt").write_text("tiny")
    assert inspect_checkpoint(root).random_tiny_model is tiny


def test_not_a_checkpoint(tmp_path: Path) -> None:
    with pytest.raises(CheckpointError, match="not a directory"):
        inspect_checkpoint(tmp_path / "missing")
    with pytest.raises(CheckpointError, match=r"no config\.json"):
        inspect_checkpoint(tmp_path)
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(CheckpointError, match="cannot read"):
        inspect_checkpoint(tmp_path)


ADVICE = [
    # 16 frames of 120 tokens + 200 text tokens, limit 1500: 620 over -> ceil(620/120) = 6
    # frames to drop; or (1500-200)/16 = 81 tokens per frame = 81*784 pixels
    (2120, 1500, 16, 120.0, ["drop at least 6 of 16 frames", "max_pixels to 63504"]),
    # 1 token over: at least one frame must go
    (1501, 1500, 4, 100.0, ["drop at least 1 of 4 frames"]),
    # text alone exceeds the limit: never advise dropping more frames than exist,
    # and no pixel advice (no room per frame)
    (5000, 1000, 2, 100.0, ["drop at least 2 of 2 frames"]),
    # no images: only the question can shrink
    (900, 800, 0, 0.0, ["shorten the question"]),
]


@pytest.mark.parametrize(("needed", "limit", "frames", "per_image", "expected"), ADVICE)
def test_too_long_advice(needed: int, limit: int, frames: int, per_image: float,
                         expected: list[str]) -> None:
    advice = too_long_advice(needed, limit, frames, per_image)
    assert f"needs {needed} tokens" in advice and f"allows {limit}" in advice
    for phrase in expected:
        assert phrase in advice
    if needed - frames * per_image >= limit:
        assert "max_pixels" not in advice


DATA = {"num_frames": 6, "short_video_s": 1.0, "short_fps": 2.0, "min_frames": 4,
        "max_frames": 64, "min_pixels": 3136, "max_pixels": 50176}


def test_a_trained_tiny_checkpoint_is_not_random(tmp_path: Path) -> None:
    # training copies the tiny marker along; its training_config.json says it was trained
    root = _write(tmp_path / "m", {"o3_random_tiny_model": True})
    (root / "TINY_MODEL.txt").write_text("tiny")
    (root / "training_config.json").write_text(json.dumps({"stage": "sft", "data": DATA}))
    info = inspect_checkpoint(root)
    assert info.trained and info.random_tiny_model is False
    assert info.frames is not None and info.frames.num_frames == 6
    assert info.frames.max_pixels == 50176 and info.frames.short_video_s == 1.0


def test_unreadable_training_config_still_serves(tmp_path: Path) -> None:
    root = _write(tmp_path / "m", {})
    (root / "training_config.json").write_text('{"stage": "rl"}')  # no data section
    info = inspect_checkpoint(root)
    assert info.trained and info.frames is None
