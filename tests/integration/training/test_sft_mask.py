"""SFT loss masking on a real sample (issue 12): what is in the loss, counted.

A real synthetic grounded sample (PyAV-decoded frames, the one prompt builder) through
the tiny checkpoint's processor and our collator (`training.sft.sft_collator`):
- `sft.loss: whole` (released): every token except padding and `<|image_pad|>`, as the
  released `sft_multi_task.py` collator masks them; TRL's collator alone would put the
  image placeholders in the loss;
- `sft.loss: completion` (default): exactly the completion's tokens.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="the train extra (trl) is not installed")

from service.inference.tiny import build_tiny_checkpoint
from training.config import load_config
from training.data import build_samples, sft_row
from training.synth_records import generate


@pytest.fixture(scope="module")
def parts(tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, dict[str, Any], Path]:
    from training.sft import load_model_and_processor

    root = tmp_path_factory.mktemp("mask")
    generate(root / "data", 6, seed=2)
    build_tiny_checkpoint(root / "tiny", seed=0)
    cfg = load_config("tiny-cpu", [f"model={root / 'tiny'}"])
    samples = build_samples(root / "data" / "STGR-SFT.json", cfg.data, "sft")
    grounded = next(s for s in samples if s.task == "temporal-spatial free-form QA")
    _, processor = load_model_and_processor(str(root / "tiny"), bf16=False)
    return processor, sft_row(grounded), root


def _collate(processor: Any, row: dict[str, Any], loss: str, root: Path) -> dict[str, Any]:
    from training.sft import sft_collator

    cfg = load_config("tiny-cpu", [f"model={root / 'tiny'}", f"sft.loss={loss}"])
    return sft_collator(cfg, processor)([dict(row)])


def test_whole_loss_masks_image_pads_like_the_release(parts: Any) -> None:
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    processor, row, root = parts
    out = _collate(processor, row, "whole", root)
    ids, labels = out["input_ids"][0], out["labels"][0]
    pad = processor.tokenizer.convert_tokens_to_ids(processor.image_token)
    n_pad = int((ids == pad).sum())
    assert n_pad > 0 and int((labels[ids == pad] != -100).sum()) == 0
    # the release: every token but padding and image pads (batch of one: no padding)
    assert int((labels != -100).sum()) == len(ids) - n_pad
    # TRL's collator alone would train on the image placeholders too
    plain = DataCollatorForVisionLanguageModeling(processor=processor)([dict(row)])
    assert int((plain["labels"][0] != -100).sum()) == len(ids)
    # the system prompt and frame labels are in the loss (the release does not mask them)
    text = processor.tokenizer.decode(ids[labels != -100])
    assert "Frame 1 at" in text and "<think>" in text


def test_completion_loss_is_exactly_the_completion(parts: Any) -> None:
    processor, row, root = parts
    out = _collate(processor, row, "completion", root)
    ids, labels = out["input_ids"][0], out["labels"][0]
    kept = processor.tokenizer.decode(ids[labels != -100])
    target = row["completion"][0]["content"][0]["text"]
    assert kept.startswith(target) and kept[len(target):].strip() in ("<|im_end|>", "")
    assert "Frame" not in kept
