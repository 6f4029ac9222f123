"""Stage 1: supervised fine-tuning with TRL's SFTTrainer on STGR prompt-completion samples.

Owns: turning a `RunConfig` into a TRL `SFTConfig`, loading the Qwen2.5-VL model and
processor (the same `from_pretrained` path the 7B uses; no torchvision), and writing a
checkpoint in Hugging Face layout (model + processor + `training_config.json`) that
`service.inference.local_hf.LocalHFBackend` and vLLM load unchanged.

Loss (`sft.loss`): `completion` (default) puts only the completion tokens in the loss;
`whole` puts the whole sequence in it EXCEPT padding and the `<|image_pad|>` /
`<|video_pad|>` placeholder tokens, as the released `sft_multi_task.py` collator does
(`labels[labels == pad] = -100`, then the image token): system prompt, frame labels,
`<|vision_start|>`/`<|vision_end|>`, question and answer are trained on.
`MaskedVisionCollator` wraps TRL's vision-language collator to do that. torch/
transformers/trl are imported inside functions so `python -m training --help` stays cheap.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from training.config import RunConfig, StageCommon, config_to_dict
from training.lazy_dataset import lazy_dataset


def load_model_and_processor(model: str, *, bf16: bool) -> tuple[Any, Any]:
    """Qwen2.5-VL model + processor from a hub id or a checkpoint directory."""
    import torch
    from transformers import AutoModelForImageTextToText

    from service.inference.processor import load_processor

    dtype = torch.bfloat16 if bf16 else torch.float32
    processor = load_processor(model)
    processor.tokenizer.padding_side = "left"  # generation (GRPO) needs left padding
    net = AutoModelForImageTextToText.from_pretrained(model, dtype=dtype)
    return net, processor


def world_size() -> int:
    import os

    return int(os.environ.get("WORLD_SIZE", "1"))


def common_args(stage: StageCommon, output_dir: Path) -> dict[str, Any]:
    """TrainingArguments fields both stages share.

    `use_cpu` without a CUDA device: then N processes started by torchrun / accelerate
    form one gloo process group (accelerate's MULTI_CPU) instead of N separate runs."""
    import torch

    return {
        "use_cpu": not torch.cuda.is_available(),
        "output_dir": str(output_dir),
        "learning_rate": stage.learning_rate,
        "lr_scheduler_type": stage.lr_scheduler,
        "warmup_steps": stage.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        "num_train_epochs": stage.epochs,
        "max_steps": stage.max_steps,
        "per_device_train_batch_size": stage.per_device_batch_size,
        "gradient_accumulation_steps": stage.grad_accum(world_size()),
        "max_grad_norm": stage.max_grad_norm,
        "weight_decay": stage.weight_decay,
        "bf16": stage.bf16,
        "gradient_checkpointing": stage.gradient_checkpointing,
        "logging_steps": stage.logging_steps,
        "save_steps": stage.save_steps,
        "save_only_model": True,
        "seed": stage.seed,
        "deepspeed": stage.deepspeed,
        "report_to": [],
        "disable_tqdm": False,
        "remove_unused_columns": False,
        "dataloader_num_workers": stage.dataloader_num_workers,
    }


class MaskedVisionCollator:
    """TRL's `DataCollatorForVisionLanguageModeling`, then every vision placeholder token
    (`<|image_pad|>`, `<|video_pad|>`) taken out of the loss (label -100)."""

    def __init__(self, inner: Any, ignore_ids: list[int]) -> None:
        self.inner, self.ignore_ids = inner, ignore_ids

    def __call__(self, examples: list[dict[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = self.inner(examples)
        for token_id in self.ignore_ids:
            out["labels"][out["input_ids"] == token_id] = -100
        return out


def placeholder_ids(processor: Any) -> list[int]:
    """Token ids of the processor's image and video placeholders (those it defines)."""
    tok = processor.tokenizer
    names = [getattr(processor, a, None) for a in ("image_token", "video_token")]
    ids = [tok.convert_tokens_to_ids(n) for n in names if n]
    return [i for i in ids if isinstance(i, int) and i != tok.unk_token_id]


def sft_collator(cfg: RunConfig, processor: Any) -> MaskedVisionCollator:
    from trl.trainer.sft_trainer import DataCollatorForVisionLanguageModeling

    inner = DataCollatorForVisionLanguageModeling(
        processor=processor, max_length=cfg.sft.max_length,
        completion_only_loss=cfg.sft.loss == "completion")
    return MaskedVisionCollator(inner, placeholder_ids(processor))


def sft_config(cfg: RunConfig, output_dir: Path) -> Any:
    from trl.trainer.sft_config import SFTConfig

    return SFTConfig(
        **common_args(cfg.sft, output_dir),
        completion_only_loss=cfg.sft.loss == "completion",
        max_length=cfg.sft.max_length,
    )


def build_sft_dataset(cfg: RunConfig) -> Any:
    if not cfg.data.sft_json:
        raise ValueError("data.sft_json is not set; point it at STGR-SFT.json")
    return lazy_dataset(cfg.data.sft_json, cfg.data, "sft")


def save_checkpoint(trainer: Any, processor: Any, cfg: RunConfig, out: Path, stage: str) -> Path:
    """Model + processor in HF layout, plus the run config that produced them.

    Every rank calls `save_model` (DeepSpeed ZeRO-3 gathers the shards collectively; the
    trainer writes on the main process only); the processor and `training_config.json`
    are written by world process zero alone, and the other ranks wait for it."""
    trainer.save_model(str(out))
    if trainer.is_world_process_zero():
        finish_checkpoint_dir(out, processor, cfg, stage)
    trainer.accelerator.wait_for_everyone()
    return out


def finish_checkpoint_dir(out: Path, processor: Any, cfg: RunConfig, stage: str) -> None:
    """Processor files (standard class name) and `training_config.json` next to weights."""
    processor.save_pretrained(str(out))
    fix_processor_class(out)
    (out / "training_config.json").write_text(
        json.dumps({"stage": stage, **config_to_dict(cfg)}, indent=2))


STANDARD_PROCESSOR = "Qwen2_5_VLProcessor"


def fix_processor_class(out: Path) -> None:
    """Name the standard processor class in every JSON file of `out` that names one: the
    image-only stand-in (used where torchvision is missing) must not leak into a
    checkpoint (processor_config.json, tokenizer_config.json...), or AutoProcessor and
    vLLM cannot load it."""
    for path in sorted(out.glob("*.json")):
        data = json.loads(path.read_text())
        name = data.get("processor_class") if isinstance(data, dict) else None
        if isinstance(name, str) and name.startswith("ImageOnly"):
            data["processor_class"] = STANDARD_PROCESSOR
            path.write_text(json.dumps(data, indent=2))


def checkpoint_callback(processor: Any, cfg: RunConfig, stage: str) -> Any:
    """A TrainerCallback that completes every intermediate `checkpoint-N` directory the
    way `save_checkpoint` completes the final one, so each loads in the service as is."""
    from transformers import TrainerCallback

    class CompleteCheckpoint(TrainerCallback):
        def on_save(self, args: Any, state: Any, control: Any, **kwargs: Any) -> None:
            folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
            if state.is_world_process_zero and folder.is_dir():
                finish_checkpoint_dir(folder, processor, cfg, stage)

    return CompleteCheckpoint()


def run_sft(cfg: RunConfig, *, model: str | None = None, output_dir: Path | None = None,
            callbacks: list[Any] | None = None) -> Path:
    """Train stage 1 and return the checkpoint directory."""
    from trl.trainer.sft_trainer import SFTTrainer

    out = output_dir or Path(cfg.output_dir) / "sft"
    net, processor = load_model_and_processor(model or cfg.model, bf16=cfg.sft.bf16)
    trainer = SFTTrainer(
        model=net, args=sft_config(cfg, out), train_dataset=build_sft_dataset(cfg),
        processing_class=processor, data_collator=sft_collator(cfg, processor),
        callbacks=[*(callbacks or []), checkpoint_callback(processor, cfg, "sft")],
    )
    trainer.train()
    return save_checkpoint(trainer, processor, cfg, out, "sft")
