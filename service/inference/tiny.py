"""Build a tiny, randomly initialised Qwen2.5-VL checkpoint for tests, demos and CI.

No weights can be downloaded here, so the loading code is exercised on a checkpoint
the project builds itself: a byte-level BPE tokenizer trained locally with
`tokenizers` on a built-in corpus (the system prompts of
`service.grounding.prompt` when importable, grounded traces in the
`<think>/<obj>/<box>/<t>` grammar, digits, letters), Qwen2.5-VL's special tokens and
its real chat template, and a `Qwen2_5_VLForConditionalGeneration` of well under 1M
parameters, written in the standard Hugging Face layout.

Invariants:
- Loads with `AutoProcessor.from_pretrained` + `Qwen2_5_VLForConditionalGeneration
  .from_pretrained`: the code path of the real 7B checkpoint. No torchvision needed.
- Same seed -> the same bytes in every file (tested by hashing).
- Vision geometry is the real one (patch 14, spatial merge 2, temporal patch 2), so
  frames whose sides are multiples of 28 stay valid.
- The text context is the real model's (`MAX_POSITIONS`): whatever frame count and
  token budget the service accepts for the 7B fits the tiny model too.
- `config.json` carries `"o3_random_tiny_model": true` and the directory holds
  `TINY_MODEL.txt`, so the service can label answers as coming from a random model.

Sizes (`--size`): `tiny` (the default, well under 1M parameters: what tests and the
service's demo mode use; its bytes never change) and `small` (about 1.2M parameters: 4
layers of width 128, the smallest model that learns the synthetic tasks on CPU, used by
the ablation). Only the widths differ; tokenizer, template and geometry are shared.

Usage: `python -m service.inference.tiny OUT_DIR [--seed N] [--size tiny|small]` (or `main(argv)`).
"""

from __future__ import annotations

import argparse
import importlib
import json
import random
from collections.abc import Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from service.inference.checkpoint import TINY_MARKER_FILE, TINY_MARKER_KEY
from service.video.policy import MAX_PIXELS, MIN_PIXELS

# Qwen2.5-VL's added tokens, in the real checkpoint's order (ids follow the BPE vocab).
SPECIAL_TOKENS: tuple[str, ...] = (
    "<|endoftext|>", "<|im_start|>", "<|im_end|>", "<|object_ref_start|>",
    "<|object_ref_end|>", "<|box_start|>", "<|box_end|>", "<|quad_start|>",
    "<|quad_end|>", "<|vision_start|>", "<|vision_end|>", "<|vision_pad|>",
    "<|image_pad|>", "<|video_pad|>", "<tool_call>", "</tool_call>",
    "<|fim_prefix|>", "<|fim_middle|>", "<|fim_suffix|>", "<|fim_pad|>",
    "<|repo_name|>", "<|file_sep|>",
)
# Which of them the tokenizer treats as "special" (skipped when decoding).
_SKIPPED = frozenset(t for t in SPECIAL_TOKENS if t.startswith("<|"))

# The chat template shipped with Qwen/Qwen2.5-VL-7B-Instruct (chat_template.json).
QWEN25_VL_CHAT_TEMPLATE = (
    "{% set image_count = namespace(value=0) %}{% set video_count = namespace(value=0) %}"
    "{% for message in messages %}{% if loop.first and message['role'] != 'system' %}"
    "<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n{% endif %}"
    "<|im_start|>{{ message['role'] }}\n{% if message['content'] is string %}"
    "{{ message['content'] }}<|im_end|>\n{% else %}{% for content in message['content'] %}"
    "{% if content['type'] == 'image' or 'image' in content or 'image_url' in content %}"
    "{% set image_count.value = image_count.value + 1 %}"
    "{% if add_vision_id %}Picture {{ image_count.value }}: {% endif %}"
    "<|vision_start|><|image_pad|><|vision_end|>"
    "{% elif content['type'] == 'video' or 'video' in content %}"
    "{% set video_count.value = video_count.value + 1 %}"
    "{% if add_vision_id %}Video {{ video_count.value }}: {% endif %}"
    "<|vision_start|><|video_pad|><|vision_end|>"
    "{% elif 'text' in content %}{{ content['text'] }}{% endif %}{% endfor %}<|im_end|>\n"
    "{% endif %}{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)

# Qwen2's pre-tokenizer split pattern (the real tokenizer.json's).
_QWEN_SPLIT = (
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*"
    r"|\s*[\r\n]+|\s+(?!\S)|\s+"
)

BPE_VOCAB = 700          # learned tokens before the special ones
# The text context (max_position_embeddings): Qwen2.5-VL-7B-Instruct's own 128,000, so
# the tiny model takes every prompt the service allows the real one: 256 frames at the
# default pixel budget (128 vision tokens each, about 36,000 prompt tokens) plus the
# largest `max_tokens` a request may ask for (32,768). M-RoPE has no position table, so
# a long context costs no weights. (It was 4,096: 32 frames already did not fit.)
MAX_POSITIONS = 128_000

_TEXT: dict[str, Any] = {
    "hidden_size": 64, "intermediate_size": 128, "num_hidden_layers": 2,
    "num_attention_heads": 4, "num_key_value_heads": 2, "rms_norm_eps": 1e-6,
    "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                        "mrope_section": [2, 3, 3]},  # sums to head_dim / 2 = 8
    "use_sliding_window": False, "tie_word_embeddings": False,
}
_VISION: dict[str, Any] = {
    "depth": 2, "hidden_size": 32, "intermediate_size": 64, "num_heads": 2,
    "in_channels": 3, "patch_size": 14, "spatial_merge_size": 2, "temporal_patch_size": 2,
    "tokens_per_second": 2, "window_size": 112, "fullatt_block_indexes": [1],
    "out_hidden_size": 64,
}


# Overrides of the text / vision configs per size; "tiny" is the configs above, as is.
SIZES: dict[str, tuple[dict[str, Any], dict[str, Any]]] = {
    "tiny": ({}, {}),
    "small": (
        {"hidden_size": 128, "intermediate_size": 512, "num_hidden_layers": 4,
         "num_attention_heads": 4, "num_key_value_heads": 2,
         "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                             "mrope_section": [4, 6, 6]}},  # sums to head_dim / 2 = 16
        {"hidden_size": 64, "intermediate_size": 128, "num_heads": 4, "out_hidden_size": 128},
    ),
}


def _module(name: str) -> Any:
    """Import lazily, typed as Any: torch/transformers stay out of importers' way."""
    return importlib.import_module(name)


def _corpus(seed: int) -> Iterator[str]:
    """Text the BPE is trained on: prompts, grounded traces, digits, letters."""
    yield from _prompt_texts()
    rng = random.Random(seed)
    names = ["man", "woman", "dog", "cup", "car", "ball", "phone", "person", "table", "bird"]
    for _ in range(300):
        name = rng.choice(names)
        box = sorted(rng.sample(range(0, 420), 2)) + sorted(rng.sample(range(0, 224), 2))
        t = round(rng.uniform(0, 60), 1)
        yield (
            f"<think>The {name} appears <obj>{name}</obj>"
            f"<box>[{box[0]},{box[2]},{box[1]},{box[3]}]</box>at<t>{t}</t>s, so the answer "
            f"follows.</think>\n<answer>{rng.choice('ABCD')}</answer>"
        )
        yield f"Frame {rng.randint(1, 64)} at {t}s: "
        yield f"From <t>{t}</t>s to <t>{round(t + rng.uniform(1, 9), 1)}</t>s"
    yield " ".join(str(i) for i in range(1000))
    yield "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ .,;:!?()[]{}<>/\"'-_=+*"
    yield "The video is in total 33 seconds. Only reply with a single digit: 0, 1, or 2."


def _prompt_texts() -> list[str]:
    """The public string constants of the shared prompt builder, when it is importable."""
    try:
        from service.grounding import prompt as prompt_module
    except ImportError:
        return []
    texts: set[str] = set()
    constants = (v for k, v in vars(prompt_module).items() if k.isupper() and k[0] != "_")
    for value in constants:  # SYSTEM_PROMPTS, SCORER_SYSTEM_PROMPT, ... (not paths/docs)
        if isinstance(value, Mapping):
            texts.update(v for v in value.values() if isinstance(v, str))
        elif isinstance(value, str) and len(value) > 40:
            texts.add(value)
    return sorted(texts)


def build_tokenizer(seed: int = 0) -> Any:
    """A byte-level BPE `tokenizers.Tokenizer` with Qwen2.5-VL's special tokens added."""
    from tokenizers import (
        AddedToken,
        Regex,
        Tokenizer,
        decoders,
        models,
        normalizers,
        pre_tokenizers,
        trainers,
    )

    tok = Tokenizer(models.BPE())
    tok.normalizer = normalizers.NFC()
    tok.pre_tokenizer = pre_tokenizers.Sequence([
        pre_tokenizers.Split(Regex(_QWEN_SPLIT), behavior="isolated", invert=False),
        pre_tokenizers.ByteLevel(add_prefix_space=False, use_regex=False),
    ])
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=BPE_VOCAB, show_progress=False,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(list(_corpus(seed)), trainer)
    tok.add_special_tokens([
        AddedToken(t, special=t in _SKIPPED, normalized=False) for t in SPECIAL_TOKENS
    ])
    return tok


def _hf_tokenizer(tok: Any) -> Any:
    return _module("transformers").Qwen2TokenizerFast(
        tokenizer_object=tok, bos_token=None, eos_token="<|im_end|>",
        pad_token="<|endoftext|>", unk_token=None, model_max_length=32768,
        errors="replace", clean_up_tokenization_spaces=False,
        chat_template=QWEN25_VL_CHAT_TEMPLATE,
    )


def _write_processor(out_dir: Path, tok: Any) -> None:
    """Tokenizer files, chat template and preprocessor_config.json, as the 7B ships them.

    Saved part by part: `Qwen2_5_VLProcessor(...)` itself cannot be built without
    torchvision (its video processor needs it), but the files are the standard ones.
    """
    pil_processor = _module("transformers.models.qwen2_vl.image_processing_pil_qwen2_vl")
    _hf_tokenizer(tok).save_pretrained(out_dir)
    pil_processor.Qwen2VLImageProcessorPil(
        min_pixels=MIN_PIXELS, max_pixels=MAX_PIXELS, patch_size=14,
        temporal_patch_size=2, merge_size=2,
    ).save_pretrained(out_dir)
    pre_path = out_dir / "preprocessor_config.json"
    pre = json.loads(pre_path.read_text(encoding="utf-8"))
    pre.update(processor_class="Qwen2_5_VLProcessor", min_pixels=MIN_PIXELS,
               max_pixels=MAX_PIXELS)
    pre_path.write_text(json.dumps(pre, indent=2, sort_keys=True) + "\n", encoding="utf-8")


def _model_config(tok: Any, max_positions: int, size: str = "tiny") -> Any:
    if size not in SIZES:
        raise ValueError(f"unknown size {size!r}; choose one of {sorted(SIZES)}")
    text_over, vision_over = SIZES[size]
    ids = {t: tok.token_to_id(t) for t in SPECIAL_TOKENS}
    text = dict(_TEXT, **text_over, vocab_size=tok.get_vocab_size(),
                max_position_embeddings=max_positions,
                bos_token_id=ids["<|endoftext|>"], eos_token_id=ids["<|im_end|>"],
                pad_token_id=ids["<|endoftext|>"])
    config = _module("transformers").Qwen2_5_VLConfig(
        text_config=text, vision_config=dict(_VISION, **vision_over),
        image_token_id=ids["<|image_pad|>"], video_token_id=ids["<|video_pad|>"],
        vision_start_token_id=ids["<|vision_start|>"],
        vision_end_token_id=ids["<|vision_end|>"], tie_word_embeddings=False,
    )
    setattr(config, TINY_MARKER_KEY, True)
    return config


def build_tiny_checkpoint(
    out_dir: Path, seed: int = 0, *, max_positions: int = MAX_POSITIONS, size: str = "tiny"
) -> Path:
    """Write a random tiny Qwen2.5-VL checkpoint to `out_dir` and return the path.

    `max_positions` is the text model's `max_position_embeddings` (the context the
    local backend enforces; default `MAX_POSITIONS`); tests lower it to provoke
    `PromptTooLong`. `size` picks the widths (`SIZES`).
    """
    transformers = _module("transformers")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tok = build_tokenizer(seed)
    config = _model_config(tok, max_positions, size)
    _module("torch").manual_seed(seed)
    model = transformers.Qwen2_5_VLForConditionalGeneration(config).eval()
    model.generation_config = transformers.GenerationConfig(
        eos_token_id=[config.text_config.eos_token_id, config.text_config.bos_token_id],
        pad_token_id=config.text_config.pad_token_id, do_sample=False,
    )
    model.save_pretrained(out_dir, safe_serialization=True)
    _write_processor(out_dir, tok)
    _write_marker(out_dir, seed, sum(p.numel() for p in model.parameters()))
    return out_dir


def _write_marker(out_dir: Path, seed: int, params: int) -> None:
    (out_dir / TINY_MARKER_FILE).write_text(
        "Random tiny Qwen2.5-VL built by service/inference/tiny.py for tests and demos.\n"
        f"seed={seed} parameters={params}\nIts answers are random text, not predictions.\n",
        encoding="utf-8",
    )


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m service.inference.tiny",
                                     description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", type=Path, help="directory to write the checkpoint to")
    parser.add_argument("--seed", type=int, default=0, help="seed for weights and corpus")
    parser.add_argument("--max-positions", type=int, default=MAX_POSITIONS,
                        help="text context length (max_position_embeddings)")
    parser.add_argument("--size", choices=sorted(SIZES), default="tiny",
                        help="model widths: tiny (<1M params, default) or small (~1.2M)")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """CLI entry point: build the checkpoint and print where it is."""
    args = _parse(argv)
    path = build_tiny_checkpoint(args.out_dir, args.seed, max_positions=args.max_positions,
                                 size=args.size)
    print(json.dumps({"checkpoint": str(path), "seed": args.seed, "size": args.size}))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
