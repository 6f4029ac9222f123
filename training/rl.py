"""Stage 2: GSPO with TRL's GRPOTrainer and our grounded rewards (SPEC 5).

Owns: mapping `RLStage` onto TRL's `GRPOConfig` and building the trainer.

GSPO in TRL terms: `importance_sampling_level="sequence"` makes the ratio
s_i = exp(mean_t log(pi/pi_old)) per completion; advantages are group-normalised
rewards; `epsilon`/`epsilon_high` clip s_i; `beta` weighs the KL to the reference model
(0 = none, and no reference model is loaded). "Several optimisation steps per
generation" is `updates_per_generation`: TRL reuses one generation batch for
`steps_per_generation` micro-steps, so we set it to updates x grad_accum.
Rollouts come from the policy itself (`model.generate`) or from vLLM
(`rl.use_vllm: true`, TRL's own integration; GPU only).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, cast

from training.config import RunConfig
from training.lazy_dataset import lazy_dataset
from training.rewards import make_reward_funcs
from training.sft import (
    checkpoint_callback,
    common_args,
    load_model_and_processor,
    save_checkpoint,
    world_size,
)


def grpo_config(cfg: RunConfig, output_dir: Path) -> Any:
    from trl.trainer.grpo_config import GRPOConfig

    rl = cfg.rl
    args = common_args(rl, output_dir)
    return GRPOConfig(
        **args,
        num_generations=rl.num_generations,
        max_completion_length=rl.max_completion_length,
        temperature=rl.temperature,
        top_p=rl.top_p,
        beta=rl.beta,
        epsilon=rl.epsilon,
        epsilon_high=rl.epsilon_high,
        importance_sampling_level=rl.importance_sampling_level,
        loss_type=rl.loss_type,
        num_iterations=rl.num_iterations,
        steps_per_generation=rl.updates_per_generation * args["gradient_accumulation_steps"],
        reward_weights=rl.rewards.weights,
        scale_rewards=rl.scale_rewards,
        use_vllm=rl.use_vllm,
        vllm_mode=rl.vllm_mode,
        vllm_gpu_memory_utilization=rl.vllm_gpu_memory_utilization,
        vllm_tensor_parallel_size=rl.vllm_tensor_parallel_size,
        vllm_server_host=rl.vllm_server_host,
        vllm_server_port=rl.vllm_server_port,
        vllm_importance_sampling_correction=rl.vllm_importance_sampling_correction,
        log_completions=False,
    )


def check_group_fits(cfg: RunConfig) -> None:
    """TRL needs every generation batch to hold whole groups; say what to change if not."""
    rl = cfg.rl
    per_gen = rl.global_batch_size * rl.updates_per_generation
    if per_gen % rl.num_generations:
        raise ValueError(
            f"rl.global_batch_size x updates_per_generation = {per_gen} completions per "
            f"generation is not a multiple of rl.num_generations={rl.num_generations}; "
            "change one of them")


def build_rl_dataset(cfg: RunConfig, json_path: str | None = None) -> Any:
    path = json_path or cfg.data.rl_json
    if not path:
        raise ValueError("data.rl_json is not set; point it at STGR-RL.json")
    return lazy_dataset(path, cfg.data, "rl")


def build_rl_trainer(
    cfg: RunConfig, *, model: str | None = None, output_dir: Path | None = None,
    callbacks: list[Any] | None = None,
) -> tuple[Any, Any, Path]:
    from trl.trainer.grpo_trainer import GRPOTrainer

    check_group_fits(cfg)
    out = output_dir or Path(cfg.output_dir) / "rl"
    net, processor = load_model_and_processor(model or cfg.model, bf16=cfg.rl.bf16)
    trainer = GRPOTrainer(
        model=net, reward_funcs=cast(Any, make_reward_funcs(cfg.rl.rewards)),
        args=grpo_config(cfg, out), train_dataset=build_rl_dataset(cfg),
        processing_class=processor,
        callbacks=[*(callbacks or []), checkpoint_callback(processor, cfg, "rl")],
    )
    return trainer, processor, out


def run_rl(cfg: RunConfig, *, model: str | None = None, output_dir: Path | None = None,
           callbacks: list[Any] | None = None) -> Path:
    """Train stage 2 and return the checkpoint directory."""
    trainer, processor, out = build_rl_trainer(cfg, model=model, output_dir=output_dir,
                                               callbacks=callbacks)
    trainer.train()
    return save_checkpoint(trainer, processor, cfg, out, "rl")


__all__ = ["build_rl_trainer", "grpo_config", "run_rl", "world_size"]
