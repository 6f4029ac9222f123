"""Run configs: the three shipped files load, and bad values fail with advice."""

from __future__ import annotations

from pathlib import Path

import pytest

from training.config import ConfigError, load_config


@pytest.mark.parametrize(
    ("name", "epsilon", "epsilon_high", "beta", "gating"),
    [
        ("paper", 3e-4, 4e-4, 0.0, "paper"),    # GSPO paper: tiny clip range, no KL
        ("released", 0.2, 0.2, 0.04, "code"),  # released trainer: clip 0.2 both sides, KL 0.04
        ("tiny-cpu", 3e-4, 4e-4, 0.0, "paper"),  # smoke run keeps the paper's algorithm
    ],
)
def test_shipped_configs_load(
    name: str, epsilon: float, epsilon_high: float | None, beta: float, gating: str
) -> None:
    cfg = load_config(name)
    assert (cfg.rl.epsilon, cfg.rl.epsilon_high, cfg.rl.beta) == (epsilon, epsilon_high, beta)
    assert cfg.rl.rewards.gating == gating
    assert cfg.rl.importance_sampling_level == "sequence"


def test_released_numbers() -> None:
    cfg = load_config("released")
    # SPEC 5: group 4, lr 1e-6 cosine, max completion 768, T=1, top_p 0.95, 1 epoch
    assert cfg.rl.num_generations == 4
    assert cfg.rl.learning_rate == 1e-6 and cfg.rl.lr_scheduler == "cosine"
    assert cfg.rl.max_completion_length == 768
    assert (cfg.rl.temperature, cfg.rl.top_p, cfg.rl.epochs) == (1.0, 0.95, 1)
    # SFT lr 1e-6, global batch 8, grad-norm 5, bf16
    assert (cfg.sft.learning_rate, cfg.sft.global_batch_size) == (1e-6, 8)
    assert cfg.sft.max_grad_norm == 5.0 and cfg.sft.bf16


def test_paper_takes_several_updates_per_generation() -> None:
    assert load_config("paper").rl.updates_per_generation > 1


BAD = [
    # a typo in a key is refused with the valid keys listed
    (["rl.num_generation=4"], "unknown key"),
    # GRPO needs a group
    (["rl.num_generations=1"], "group"),
    # a literal outside its choices names the choices
    (["rl.rewards.gating=sometimes"], "one of"),
    (["sft.loss=prompt"], "one of"),
    # the batch must split evenly over devices
    (["sft.global_batch_size=6", "sft.per_device_batch_size=4"], "multiple"),
    # sigma schedule must shrink
    (["rl.rewards.sigma_start=0.5"], "sigma_start"),
    # top_p outside (0, 1]
    (["rl.top_p=1.5"], "top_p"),
    # a malformed override
    (["rl.beta"], "section.key=value"),
]


@pytest.mark.parametrize(("overrides", "message"), BAD)
def test_bad_values_say_what_to_change(overrides: list[str], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_config("tiny-cpu", overrides)


def test_overrides_are_typed_and_applied() -> None:
    cfg = load_config("paper", ["rl.beta=0.01", "data.num_frames=8", "rl.use_vllm=false"])
    assert cfg.rl.beta == 0.01 and cfg.data.num_frames == 8 and cfg.rl.use_vllm is False


def test_unknown_config_name_lists_known(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="paper"):
        load_config("no-such-config")


def test_json_config(tmp_path: Path) -> None:
    path = tmp_path / "c.json"
    path.write_text('{"name": "j", "rl": {"num_generations": 8}}')
    assert load_config(path).rl.num_generations == 8


def test_grad_accum_from_world_size() -> None:
    cfg = load_config("released")
    assert cfg.sft.grad_accum(world_size=8) == 1
    assert cfg.sft.grad_accum(world_size=1) == 8
    with pytest.raises(ConfigError, match="multiple"):
        cfg.sft.grad_accum(world_size=3)
