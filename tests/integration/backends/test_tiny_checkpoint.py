"""service.inference.tiny: a deterministic random Qwen2.5-VL that loads like the real one."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

from service.inference.checkpoint import inspect_checkpoint
from service.inference.processor import load_processor
from service.inference.tiny import build_tiny_checkpoint

REPO = Path(__file__).resolve().parents[3]


def _hashes(root: Path) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(root.iterdir())}


def test_same_seed_same_bytes_across_processes(tmp_path: Path, tiny_checkpoint: Path) -> None:
    # built again by the CLI in a fresh process: every file identical to the fixture's
    out = tmp_path / "again"
    done = subprocess.run([sys.executable, "-m", "service.inference.tiny", str(out), "--seed", "0"],
                          cwd=REPO, capture_output=True, text=True, timeout=120, check=True)
    assert json.loads(done.stdout.strip().splitlines()[-1])["checkpoint"] == str(out)
    assert _hashes(out) == _hashes(tiny_checkpoint)


def test_other_seed_other_weights_same_tokenizer(tmp_path: Path, tiny_checkpoint: Path) -> None:
    other = _hashes(build_tiny_checkpoint(tmp_path / "seed1", seed=1))
    base = _hashes(tiny_checkpoint)
    assert other["model.safetensors"] != base["model.safetensors"]
    assert other["config.json"] == base["config.json"]


def test_standard_layout_and_marker(tiny_checkpoint: Path) -> None:
    names = {p.name for p in tiny_checkpoint.iterdir()}
    assert {"config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json",
            "preprocessor_config.json", "generation_config.json", "chat_template.jinja",
            "TINY_MODEL.txt"} <= names
    info = inspect_checkpoint(tiny_checkpoint)
    assert info.random_tiny_model and info.model_type == "qwen2_5_vl"
    pre = json.loads((tiny_checkpoint / "preprocessor_config.json").read_text())
    assert pre["processor_class"] == "Qwen2_5_VLProcessor"
    assert (pre["patch_size"], pre["merge_size"], pre["max_pixels"]) == (14, 2, 100352)


def test_loads_through_the_real_model_path_and_is_tiny(tiny_checkpoint: Path) -> None:
    from transformers import Qwen2_5_VLForConditionalGeneration

    model = Qwen2_5_VLForConditionalGeneration.from_pretrained(str(tiny_checkpoint))
    assert sum(p.numel() for p in model.parameters()) < 1_000_000
    config = model.config
    assert config.vision_config.patch_size == 14 and config.vision_config.spatial_merge_size == 2
    assert getattr(config, "o3_random_tiny_model", False) is True
    tok = load_processor(tiny_checkpoint).tokenizer
    # the config's special ids are the tokenizer's
    for attr, token in [("image_token_id", "<|image_pad|>"), ("video_token_id", "<|video_pad|>"),
                        ("vision_start_token_id", "<|vision_start|>"),
                        ("vision_end_token_id", "<|vision_end|>")]:
        assert getattr(config, attr) == tok.convert_tokens_to_ids(token)
    assert tok.convert_tokens_to_ids("<|im_end|>") == config.text_config.eos_token_id


def test_chat_template_renders_images_as_qwen_does(tiny_checkpoint: Path) -> None:
    processor = load_processor(tiny_checkpoint)
    messages = [{"role": "user", "content": [
        {"type": "text", "text": "Frame 1 at 0.0s: "}, {"type": "image"},
        {"type": "text", "text": "\nWhat?"}]}]
    text = processor.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
    assert text == (
        "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n"
        "Frame 1 at 0.0s: <|vision_start|><|image_pad|><|vision_end|>\nWhat?<|im_end|>\n"
        "<|im_start|>assistant\n")
    # special tokens are single ids, and text round-trips through the byte-level BPE
    tok = processor.tokenizer
    assert len(tok("<|vision_start|>")["input_ids"]) == 1
    trace = "<think><obj>man</obj><box>[249,60,395,252]</box>at<t>9.0</t>s é</think>"
    assert tok.decode(tok(trace)["input_ids"]) == trace
