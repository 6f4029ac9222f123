"""SFT and GSPO on CPU with the tiny checkpoint and synthetic data, end to end.

- a few SFT steps lower the loss and change the weights;
- a few GSPO steps run with OUR reward functions and log each reward, KL, clip
  fractions and completion lengths;
- the checkpoint written by training loads in the service's LocalHFBackend and answers
  a Pipeline call on a generated video decoded by the service's sampler;
- so does every intermediate `checkpoint-N` directory (processor saved, standard
  processor class named in every file).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("trl", reason="the train extra (trl) is not installed")

from service.grounding.voting import VotingMode
from service.inference.backend import SamplingParams
from service.inference.tiny import build_tiny_checkpoint
from service.inference.types import PipelineOptions
from training.config import RunConfig, load_config
from training.metrics import jsonl_metrics_callback, read_metrics
from training.synth_records import generate


@pytest.fixture(scope="module")
def work(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("train")
    generate(root / "data", 12, seed=5)
    build_tiny_checkpoint(root / "tiny", seed=0)
    return root


def _cfg(work: Path, *overrides: str) -> RunConfig:
    data = work / "data"
    return load_config("tiny-cpu", [
        f"model={work / 'tiny'}", f"data.sft_json={data / 'STGR-SFT.json'}",
        f"data.rl_json={data / 'STGR-RL.json'}", "sft.logging_steps=1", "rl.logging_steps=1",
        *overrides,
    ])


def _weights(path: Path) -> dict[str, Any]:
    from safetensors.torch import load_file

    return load_file(str(path / "model.safetensors"))


@pytest.fixture(scope="module")
def sft_checkpoint(work: Path) -> Path:
    from training.sft import run_sft

    out = work / "sft"
    cfg = _cfg(work, "sft.max_steps=12", "sft.per_device_batch_size=4",
               "sft.global_batch_size=4", "sft.save_steps=6")
    return run_sft(cfg, output_dir=out, callbacks=[jsonl_metrics_callback(out / "m.jsonl")])


def test_sft_lowers_loss_and_changes_weights(work: Path, sft_checkpoint: Path) -> None:
    losses = [row["loss"] for row in read_metrics(sft_checkpoint / "m.jsonl") if "loss" in row]
    assert len(losses) >= 10
    first, last = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert last < first - 0.3, losses
    before, after = _weights(work / "tiny"), _weights(sft_checkpoint)
    changed = [k for k in before if not before[k].equal(after[k])]
    assert len(changed) > len(before) // 2


def _processor_classes(folder: Path) -> set[str]:
    import json

    named = (json.loads(p.read_text()) for p in folder.glob("*.json"))
    return {d["processor_class"] for d in named if isinstance(d, dict) and "processor_class" in d}


async def test_every_intermediate_checkpoint_loads_in_the_service(sft_checkpoint: Path) -> None:
    from PIL import Image

    from service.grounding.prompt import build_prompt
    from service.inference.local_hf import LocalHFBackend

    folders = sorted(sft_checkpoint.glob("checkpoint-*"), key=lambda p: int(p.name.split("-")[1]))
    assert [p.name for p in folders] == ["checkpoint-6", "checkpoint-12"]  # save_steps=6
    prompt = build_prompt("Where is the square?", [0.0])
    for folder in [*folders, sft_checkpoint]:
        # the image-only stand-in class must never be named (AutoProcessor/vLLM cannot load it)
        assert _processor_classes(folder) == {"Qwen2_5_VLProcessor"}, folder
        assert (folder / "training_config.json").is_file()
        backend = LocalHFBackend(folder, device="cpu", dtype="float32")
        result = await backend.sample(prompt, [Image.new("RGB", (112, 84))], 1,
                                      SamplingParams(max_tokens=4, seed=0))
        assert len(result.completions) == 1, folder


@pytest.fixture(scope="module")
def rl_checkpoint(work: Path, sft_checkpoint: Path) -> Path:
    from training.rl import run_rl

    out = work / "rl"
    cfg = _cfg(work, "rl.max_steps=2", "rl.max_completion_length=24", "rl.beta=0.04",
               "rl.global_batch_size=4", "rl.per_device_batch_size=4", "rl.num_generations=2")
    return run_rl(cfg, model=str(sft_checkpoint), output_dir=out,
                  callbacks=[jsonl_metrics_callback(out / "m.jsonl")])


def test_gspo_steps_log_our_rewards(rl_checkpoint: Path) -> None:
    rows = [r for r in read_metrics(rl_checkpoint / "m.jsonl") if "reward" in r]
    assert len(rows) == 2
    for row in rows:
        for name in ("accuracy", "format", "temporal", "spatial"):
            assert 0.0 <= row[f"rewards/{name}/mean"] <= 1.0
        assert "kl" in row and "completions/mean_length" in row
        assert any(k.startswith("clip_ratio") for k in row)
    config = (rl_checkpoint / "training_config.json").read_text()
    assert '"importance_sampling_level": "sequence"' in config  # GSPO, not token GRPO


async def test_trained_checkpoint_answers_a_pipeline_call(
    rl_checkpoint: Path, tmp_path: Path
) -> None:
    from service.inference.local_hf import LocalHFBackend
    from service.inference.pipeline import Pipeline
    from service.video.policy import FramePolicy
    from service.video.sampler import sample_video
    from service.video.synth import write_moving_square

    video = tmp_path / "square.mp4"
    write_moving_square(video, duration=2.0, fps=10.0)
    frames = sample_video(video, FramePolicy(num_frames=4, max_pixels=112 * 84)).frameset
    backend = LocalHFBackend(rl_checkpoint, device="cpu", dtype="float32")
    opts = PipelineOptions(n=2, voting=VotingMode.MAJORITY,
                           sampling=SamplingParams(max_tokens=16, seed=0))
    verdict = await Pipeline(backend).run(frames, "Where is the square?", opts=opts)
    assert verdict.usage.completion_tokens > 0
    assert backend.generate_calls == 1  # N samples in one generate call
    assert verdict.model_id == backend.model_id


def test_released_rewards_in_a_real_rl_step(work: Path, sft_checkpoint: Path) -> None:
    """`rl.rewards.mode: released` through TRL's reward call (trainer_state, the
    annotation column of real samples) in a real GSPO step."""
    from training.rl import run_rl

    out = work / "rl-released"
    cfg = _cfg(work, "rl.max_steps=1", "rl.max_completion_length=12", "rl.rewards.mode=released",
               "rl.global_batch_size=4", "rl.per_device_batch_size=4", "rl.num_generations=2")
    run_rl(cfg, model=str(sft_checkpoint), output_dir=out,
           callbacks=[jsonl_metrics_callback(out / "m.jsonl")])
    rows = [r for r in read_metrics(out / "m.jsonl") if "reward" in r]
    assert len(rows) == 1
    # released sums: accuracy up to 2 (temporal MCQ letter + tIoU), temporal up to 2
    assert 0.0 <= rows[0]["rewards/accuracy/mean"] <= 2.0
    assert 0.0 <= rows[0]["rewards/temporal/mean"] <= 2.0
    assert '"mode": "released"' in (out / "training_config.json").read_text()
