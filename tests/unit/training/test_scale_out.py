"""Scale-out settings a GPU user runs (issue 12): extras, accelerate configs, vLLM knobs."""

from __future__ import annotations

import tomllib
from pathlib import Path

import pytest

from training.config import ConfigError, load_config

ROOT = Path(__file__).resolve().parents[3]
ACCEL = ROOT / "training" / "configs" / "accelerate"


def _extras() -> dict[str, list[str]]:
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    extras: dict[str, list[str]] = data["project"]["optional-dependencies"]
    return extras


def test_extras_for_deepspeed_vllm_and_the_config_reader() -> None:
    extras = _extras()
    assert any(d.startswith("deepspeed") for d in extras["deepspeed"])
    assert any(d.startswith("vllm") for d in extras["vllm"])
    # training.config reads YAML: the train extra alone must be enough to run it
    assert any(d.startswith("pyyaml") for d in extras["train"])
    # the configs that use DeepSpeed name files that exist
    for name in ("paper", "released"):
        cfg = load_config(name)
        for stage in (cfg.sft, cfg.rl):
            assert stage.deepspeed and (ROOT / stage.deepspeed).is_file()


@pytest.mark.parametrize(("name", "machines"), [("1node_8gpu", 1), ("multi_node", 2)])
def test_accelerate_configs_load_in_accelerate(name: str, machines: int) -> None:
    pytest.importorskip("accelerate")
    from accelerate.commands.config.config_args import ClusterConfig

    cfg = ClusterConfig.from_yaml_file(str(ACCEL / f"{name}.yaml"))
    assert (cfg.num_machines, cfg.num_processes) == (machines, 8 * machines)
    assert str(cfg.distributed_type).endswith("MULTI_GPU")


def test_released_step_sizes_on_one_and_two_nodes() -> None:
    cfg = load_config("released")
    assert cfg.rl.grad_accum(8) == 1 and cfg.sft.grad_accum(8) == 1
    # 16 GPUs cannot make a 32-completion step of 4 per GPU: refused with advice...
    with pytest.raises(ConfigError, match="not a multiple"):
        cfg.rl.grad_accum(16)
    # ...and the documented override keeps the release's step size
    two = load_config("released", ["rl.per_device_batch_size=2", "sft.global_batch_size=16"])
    assert two.rl.grad_accum(16) == 1 and two.rl.global_batch_size == 32
    assert two.sft.grad_accum(16) == 1


def test_vllm_rollout_settings_reach_trl() -> None:
    pytest.importorskip("trl")
    from training.rl import grpo_config

    cfg = load_config("paper", ["rl.vllm_mode=server", "rl.vllm_server_host=10.0.0.5",
                                "rl.vllm_server_port=8123", "rl.vllm_gpu_memory_utilization=0.5",
                                "rl.vllm_tensor_parallel_size=2",
                                "rl.vllm_importance_sampling_correction=false",
                                "rl.deepspeed=null", "rl.bf16=false"])
    args = grpo_config(cfg, Path("/tmp/unused-out"))
    assert (args.use_vllm, args.vllm_mode, args.vllm_server_host, args.vllm_server_port) == (
        True, "server", "10.0.0.5", 8123)
    assert (args.vllm_gpu_memory_utilization, args.vllm_tensor_parallel_size) == (0.5, 2)
    assert args.vllm_importance_sampling_correction is False
    with pytest.raises(ConfigError, match="vllm_gpu_memory_utilization"):
        load_config("paper", ["rl.vllm_gpu_memory_utilization=1.5"])
