"""Training configuration: validated dataclasses loaded from one YAML or JSON file.

Owns: the shape of a training run (`RunConfig` = model + data + SFT stage + RL stage)
and its validation. The paper's run, the released code's run and the CPU smoke run are
three files under `training/configs/` read by this one code path: they differ only in
numbers (SPEC section 5).

Invariants:
- Every field has a default and a comment saying what it means; unknown keys in a file
  are an error naming the key and the valid ones (a typo never silently falls back).
- `__post_init__` checks each value and says what to change when it is wrong.
- Dotted overrides (`rl.beta=0.0`) are parsed as YAML scalars and validated the same way.
"""

from __future__ import annotations

import dataclasses
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, Literal, TypeVar, cast, get_args

import yaml

from service.video.policy import (
    DEFAULT_NUM_FRAMES,
    MAX_PIXELS,
    MIN_FRAMES,
    MIN_PIXELS,
    SHORT_FPS,
    SHORT_VIDEO_S,
)

CONFIG_DIR = Path(__file__).parent / "configs"

DurationLine = Literal["non-grounding", "always", "never"]
SFTLoss = Literal["completion", "whole"]
GatingMode = Literal["paper", "code"]
RewardMode = Literal["paper", "released"]
ImportanceLevel = Literal["sequence", "token"]


class ConfigError(ValueError):
    """A configuration value is wrong; the message says which and what to change."""


def _check(ok: bool, message: str) -> None:
    if not ok:
        raise ConfigError(message)


def _check_literal(value: object, allowed: Any, name: str) -> None:
    choices = get_args(allowed)
    _check(value in choices, f"{name}={value!r} is not one of {list(choices)}; pick one of them")


@dataclass
class DataConfig:
    """Where the STGR files and videos are, and how frames are chosen for a sample."""

    sft_json: str | None = None          # path to STGR-SFT.json (or a synthetic one)
    rl_json: str | None = None           # path to STGR-RL.json
    eval_json: str | None = None         # held-out records for `python -m training eval`
    video_roots: dict[str, str] = field(default_factory=dict)  # record `source` -> directory
    default_root: str | None = None      # used for sources not in video_roots (None: JSON's dir)
    num_frames: int = DEFAULT_NUM_FRAMES  # uniform frames per video (SPEC 1 training recipe)
    short_video_s: float = SHORT_VIDEO_S  # videos shorter than this are sampled at short_fps
    short_fps: float = SHORT_FPS
    min_frames: int = MIN_FRAMES
    max_frames: int = 64                 # cap after key frames are inserted
    min_pixels: int = MIN_PIXELS         # per video frame (released: 100,352, i.e. upscaled)
    max_pixels: int = MAX_PIXELS         # 100,352 px per frame (SPEC 1)
    image_min_pixels: int | None = None  # visual QA images (None: min_pixels; released 3,136)
    image_max_pixels: int | None = None  # visual QA images (None: max_pixels; released 200,704)
    insert_key_frames: bool = True       # key frames into temporal-spatial free-form QA prompts
    duration_line: DurationLine = "always"  # "The video is in total N seconds." (RL, eval)
    sft_duration_line: DurationLine | None = None  # SFT samples (None: duration_line)
    max_records: int | None = None       # take only the first N records (smoke runs)

    def __post_init__(self) -> None:
        _check(self.num_frames >= 1, f"data.num_frames={self.num_frames}; use at least 1")
        _check(self.min_frames >= 1, f"data.min_frames={self.min_frames}; use at least 1")
        _check(self.max_frames >= self.num_frames,
               f"data.max_frames={self.max_frames} < num_frames={self.num_frames}; raise it")
        _check(self.short_fps > 0, f"data.short_fps={self.short_fps}; must be > 0")
        _check(28 * 28 <= self.min_pixels <= self.max_pixels,
               "data.min_pixels must be >= 784 and <= data.max_pixels "
               f"(got {self.min_pixels}, {self.max_pixels})")
        _check_literal(self.duration_line, DurationLine, "data.duration_line")
        if self.sft_duration_line is not None:
            _check_literal(self.sft_duration_line, DurationLine, "data.sft_duration_line")
        for name in ("image_min_pixels", "image_max_pixels"):
            value = getattr(self, name)
            _check(value is None or value >= 28 * 28, f"data.{name}={value}; >= 784 or null")
        _check(self.max_records is None or self.max_records > 0,
               f"data.max_records={self.max_records}; use a positive number or null")


@dataclass
class RewardConfig:
    """Which rewards are summed in RL and how (SPEC 5)."""

    mode: RewardMode = "paper"           # "released": the release's reward_func.py, case for case
    names: list[str] = field(
        default_factory=lambda: ["accuracy", "format", "temporal", "spatial"])
    weights: list[float] | None = None   # None: all 1.0 (the plain sum r_acc+r_fmt+r_t+r_s)
    gating: GatingMode = "paper"         # "paper": |t_pred-t_gt| <= tau; "code": gt-pred < 1 s
    tau: float = 3.0                     # gating window (seconds) in paper mode
    sigma_start: float = 4.0             # temporal proximity sigma at progress 0
    sigma_end: float = 1.0               # sigma floor, reached at anneal_fraction
    anneal_fraction: float = 0.75        # share of training over which sigma anneals
    adaptive_sigma: bool = True          # False: sigma fixed at sigma_end (ablation)

    def __post_init__(self) -> None:
        known = {"accuracy", "format", "temporal", "spatial"}
        unknown = [n for n in self.names if n not in known]
        _check(not unknown and bool(self.names),
               f"rl.rewards.names={self.names}: use a non-empty subset of {sorted(known)}")
        _check(self.weights is None or len(self.weights) == len(self.names),
               "rl.rewards.weights must have one weight per name or be null")
        _check_literal(self.gating, GatingMode, "rl.rewards.gating")
        _check_literal(self.mode, RewardMode, "rl.rewards.mode")
        _check(self.tau > 0, f"rl.rewards.tau={self.tau}; must be > 0 seconds")
        _check(self.sigma_start >= self.sigma_end > 0,
               "need rl.rewards.sigma_start >= sigma_end > 0 "
               f"(got {self.sigma_start}, {self.sigma_end})")
        _check(0 < self.anneal_fraction <= 1,
               f"rl.rewards.anneal_fraction={self.anneal_fraction}; must be in (0, 1]")


@dataclass
class StageCommon:
    """Optimisation settings shared by both stages."""

    learning_rate: float = 1e-6
    lr_scheduler: str = "cosine"
    warmup_ratio: float = 0.0
    epochs: float = 1.0
    max_steps: int = -1                  # > 0 overrides epochs
    global_batch_size: int = 8           # per_device * grad_accum * world_size
    per_device_batch_size: int = 1
    max_grad_norm: float = 5.0
    weight_decay: float = 0.0
    bf16: bool = True
    gradient_checkpointing: bool = False
    logging_steps: int = 1
    save_steps: int = 500
    seed: int = 0
    deepspeed: str | None = None         # path to a DeepSpeed JSON (multi-GPU)
    dataloader_num_workers: int = 0      # processes building samples (decoding) lazily

    def _check_common(self, stage: str) -> None:
        _check(self.learning_rate > 0, f"{stage}.learning_rate must be > 0")
        _check(self.epochs > 0 or self.max_steps > 0,
               f"{stage}: set epochs > 0 or max_steps > 0")
        _check(self.per_device_batch_size >= 1, f"{stage}.per_device_batch_size must be >= 1")
        _check(self.global_batch_size % self.per_device_batch_size == 0,
               f"{stage}.global_batch_size={self.global_batch_size} must be a multiple of "
               f"per_device_batch_size={self.per_device_batch_size}")
        _check(self.max_grad_norm > 0, f"{stage}.max_grad_norm must be > 0")
        _check(self.logging_steps >= 1, f"{stage}.logging_steps must be >= 1")
        _check(self.dataloader_num_workers >= 0,
               f"{stage}.dataloader_num_workers must be >= 0 (0: decode in the main process)")

    def grad_accum(self, world_size: int) -> int:
        """Gradient accumulation steps that give `global_batch_size` on `world_size` ranks."""
        per_step = self.per_device_batch_size * world_size
        _check(self.global_batch_size % per_step == 0,
               f"global_batch_size={self.global_batch_size} is not a multiple of "
               f"per_device_batch_size*world_size={per_step}; change one of them")
        return self.global_batch_size // per_step


@dataclass
class SFTStage(StageCommon):
    """Stage 1: supervised fine-tuning on STGR-CoT (SPEC 5)."""

    loss: SFTLoss = "completion"         # "whole": the released code's whole-sequence loss
    max_length: int | None = None        # None: no truncation (images must never be cut)

    def __post_init__(self) -> None:
        self._check_common("sft")
        _check_literal(self.loss, SFTLoss, "sft.loss")


@dataclass
class RLStage(StageCommon):
    """Stage 2: GSPO (GRPO with sequence-level importance ratios) on STGR-RL (SPEC 5)."""

    num_generations: int = 4             # group size G
    epsilon: float = 0.2                 # lower clip
    epsilon_high: float | None = None    # upper clip (None: = epsilon)
    beta: float = 0.04                   # KL coefficient (0: no reference model)
    importance_sampling_level: ImportanceLevel = "sequence"  # "token": plain GRPO
    loss_type: str = "grpo"
    num_iterations: int = 1              # optimisation steps per generation (mu)
    updates_per_generation: int = 1      # optimizer steps per batch of rollouts (paper: 4)
    max_completion_length: int = 768
    temperature: float = 1.0
    top_p: float = 0.95
    scale_rewards: str = "group"         # advantages / group std (released: + 1e-4, as TRL)
    use_vllm: bool = False               # rollouts by vLLM (GPU only; extra `vllm`)
    vllm_mode: str = "colocate"          # "colocate": in each training process; "server"
    vllm_gpu_memory_utilization: float = 0.3  # colocate: GPU memory share vLLM may take
    vllm_tensor_parallel_size: int = 1   # colocate: GPUs one vLLM engine spans
    vllm_server_host: str = "0.0.0.0"    # server mode: `trl vllm-serve` host
    vllm_server_port: int = 8000         # server mode: its port
    vllm_importance_sampling_correction: bool = True  # TRL's vLLM-vs-trainer logprob fix
    rewards: RewardConfig = field(default_factory=RewardConfig)

    def __post_init__(self) -> None:
        self._check_common("rl")
        _check(self.num_generations >= 2,
               f"rl.num_generations={self.num_generations}; GRPO needs a group of >= 2")
        _check(self.epsilon > 0, "rl.epsilon must be > 0")
        _check(self.epsilon_high is None or self.epsilon_high > 0, "rl.epsilon_high must be > 0")
        _check(self.beta >= 0, "rl.beta must be >= 0 (0 disables the KL term)")
        _check_literal(self.importance_sampling_level, ImportanceLevel,
                       "rl.importance_sampling_level")
        _check(self.num_iterations >= 1, "rl.num_iterations must be >= 1")
        _check(self.updates_per_generation >= 1, "rl.updates_per_generation must be >= 1")
        _check(self.max_completion_length >= 1, "rl.max_completion_length must be >= 1")
        _check(0 < self.top_p <= 1, f"rl.top_p={self.top_p}; must be in (0, 1]")
        _check(self.temperature > 0, "rl.temperature must be > 0 for sampling rollouts")
        _check(self.vllm_mode in ("colocate", "server"), "rl.vllm_mode: colocate or server")
        _check(0 < self.vllm_gpu_memory_utilization <= 1,
               "rl.vllm_gpu_memory_utilization must be in (0, 1]")
        _check(self.vllm_tensor_parallel_size >= 1, "rl.vllm_tensor_parallel_size must be >= 1")
        _check(1 <= self.vllm_server_port <= 65535, "rl.vllm_server_port must be a TCP port")
        _check(self.scale_rewards in ("group", "batch", "none"),
               "rl.scale_rewards: group, batch or none")


@dataclass
class RunConfig:
    """A whole run: base model, data, and both stages."""

    name: str = "unnamed"
    model: str = "Qwen/Qwen2.5-VL-7B-Instruct"  # base checkpoint (HF id or directory)
    output_dir: str = "artifacts/train"
    data: DataConfig = field(default_factory=DataConfig)
    sft: SFTStage = field(default_factory=SFTStage)
    rl: RLStage = field(default_factory=RLStage)

    def __post_init__(self) -> None:
        _check(bool(self.name), "name must not be empty")


T = TypeVar("T")


def _build(cls: type[T], raw: object, where: str) -> T:
    """Instantiate dataclass `cls` from a mapping, recursing into dataclass fields."""
    if not isinstance(raw, dict):
        raise ConfigError(f"{where or 'config'} must be a mapping, got {type(raw).__name__}")
    names = {f.name: f for f in fields(cast(Any, cls))}
    unknown = sorted(set(raw) - set(names))
    _check(not unknown, f"unknown key(s) {unknown} in {where or 'config'}; valid: {sorted(names)}")
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        sub = _nested_type(cls, key)
        kwargs[key] = _build(sub, value, f"{where}.{key}".lstrip(".")) if sub else value
    try:
        return cls(**kwargs)
    except TypeError as exc:  # a wrong value type that __post_init__ did not catch
        raise ConfigError(f"{where or 'config'}: {exc}") from exc


_NESTED: dict[tuple[str, str], type[Any]] = {
    ("RunConfig", "data"): DataConfig,
    ("RunConfig", "sft"): SFTStage,
    ("RunConfig", "rl"): RLStage,
    ("RLStage", "rewards"): RewardConfig,
}


def _nested_type(cls: type[Any], key: str) -> type[Any] | None:
    return _NESTED.get((cls.__name__, key))


def _apply_override(raw: dict[str, Any], override: str) -> None:
    """Apply `a.b.c=value` (value parsed as YAML) to the raw mapping."""
    key, sep, value = override.partition("=")
    _check(bool(sep) and bool(key), f"override {override!r} must look like section.key=value")
    node = raw
    parts = key.strip().split(".")
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        _check(isinstance(node, dict), f"override {override!r}: {part} is not a section")
    node[parts[-1]] = yaml.safe_load(value)


def resolve_config_path(name_or_path: str | Path) -> Path:
    """A file path, or a bare name of a file in training/configs (`paper`, `tiny-cpu`)."""
    path = Path(name_or_path)
    if path.exists():
        return path
    for suffix in (".yaml", ".yml", ".json"):
        candidate = CONFIG_DIR / f"{name_or_path}{suffix}"
        if candidate.exists():
            return candidate
    known = sorted(p.stem for p in CONFIG_DIR.glob("*.yaml"))
    raise ConfigError(f"config {str(name_or_path)!r} not found; give a path or one of {known}")


def load_config(name_or_path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> RunConfig:
    """Read a YAML/JSON run config, apply dotted overrides, validate, return it."""
    path = resolve_config_path(name_or_path)
    text = path.read_text()
    raw = json.loads(text) if path.suffix == ".json" else yaml.safe_load(text)
    raw = raw or {}
    for override in overrides:
        _apply_override(raw, override)
    return _build(RunConfig, raw, "")


def config_to_dict(config: RunConfig) -> dict[str, Any]:
    """Plain-dict form (saved next to checkpoints so a run records its own settings)."""
    return dataclasses.asdict(config)
