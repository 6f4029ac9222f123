"""GPU check: the local backend on a full-size, randomly initialised Qwen2.5-VL-7B.

Owns one measurement, for when a GPU is lent (one H200, within 8 minutes, with only
torch and transformers besides this project; nothing is downloaded):

1. Build the checkpoint: the project's own tokenizer and processor files
   (`service.inference.tiny`), a config with Qwen2.5-VL-7B's published sizes written below
   (`QWEN25_VL_7B`), random weights initialised on the device in bf16 and saved in the
   Hugging Face layout (~16.6 GB), so the backend loads it with `from_pretrained`,
   exactly like the real checkpoint.
2. Run `LocalHFBackend` in bf16 on 16 frames at the training size (1280x720 -> 420x224,
   120 vision tokens each; SPEC 1) with the serving prompt: ONE `sample(n=8)` call
   (shared prefill, 8 rows in one generate) versus 8 single `sample(n=1)` calls.
3. Print, side by side: generated tokens/s, wall time, peak GPU memory, and the ratio
   to the memory-bandwidth floor of decoding: each decode step must read every weight
   once (shared by all rows) plus each row's KV cache, so the fastest possible step is
   bytes / HBM bandwidth (H200: 4.8 TB/s, `--bandwidth-gbs`); floor tokens/s =
   rows / that step time. The ratio (measured / floor, <= 1) says how much of the
   hardware the backend uses.

    python -m bench.gpu_check                     # on the GPU machine
    python -m bench.gpu_check --tiny --device cpu --max-tokens 4 --frames 2  # smoke

Invariants: random weights never end a row early in practice (EOS is 2 of 152,064
tokens), so every row generates `--max-tokens` tokens and the counts are comparable;
the script prints which phase took how long, so a run that overruns says where.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from PIL import Image

from service.grounding.prompt import build_prompt
from service.inference.backend import SamplingParams
from service.inference.local_hf import LocalHFBackend
from service.inference.tiny import build_tiny_checkpoint

# Qwen2.5-VL-7B-Instruct's architecture, as its config.json publishes it.
QWEN25_VL_7B: dict[str, Any] = {
    "text": {
        "hidden_size": 3584, "intermediate_size": 18944, "num_hidden_layers": 28,
        "num_attention_heads": 28, "num_key_value_heads": 4, "vocab_size": 152064,
        "max_position_embeddings": 128000, "rms_norm_eps": 1e-6, "hidden_act": "silu",
        "rope_parameters": {"rope_type": "default", "rope_theta": 1000000.0,
                            "mrope_section": [16, 24, 24]},
        "use_sliding_window": False, "tie_word_embeddings": False,
    },
    "vision": {
        "depth": 32, "hidden_size": 1280, "intermediate_size": 3420, "num_heads": 16,
        "in_channels": 3, "patch_size": 14, "spatial_merge_size": 2,
        "temporal_patch_size": 2, "tokens_per_second": 2, "window_size": 112,
        "fullatt_block_indexes": [7, 15, 23, 31], "out_hidden_size": 3584,
        "hidden_act": "silu",
    },
}
FRAME_SIZE = (420, 224)  # 1280x720 at the training budget of 100,352 px (SPEC 1)


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", flush=True)


def full_size_config(tiny_dir: Path) -> Any:
    """The 7B architecture with the token ids of the project's tokenizer."""
    import transformers

    tiny = json.loads((tiny_dir / "config.json").read_text(encoding="utf-8"))
    text = tiny.get("text_config", tiny)
    ids = {k: tiny[k] for k in ("image_token_id", "video_token_id", "vision_start_token_id",
                                "vision_end_token_id")}
    text_cfg = dict(QWEN25_VL_7B["text"], bos_token_id=text["bos_token_id"],
                    eos_token_id=text["eos_token_id"], pad_token_id=text["pad_token_id"])
    return transformers.Qwen2_5_VLConfig(text_config=text_cfg,
                                         vision_config=QWEN25_VL_7B["vision"],
                                         tie_word_embeddings=False, **ids)


def build_checkpoint(out: Path, *, tiny: bool, device: str) -> Path:
    """Tokenizer + processor from service.inference.tiny; for full size, random 7B weights."""
    import torch
    import transformers

    build_tiny_checkpoint(out)
    if tiny:
        return out
    config = full_size_config(out)
    torch.set_default_dtype(torch.bfloat16)
    try:
        with torch.device(device):
            model = transformers.Qwen2_5_VLForConditionalGeneration(config).eval()
    finally:
        torch.set_default_dtype(torch.float32)
    tiny_gen = json.loads((out / "generation_config.json").read_text(encoding="utf-8"))
    model.generation_config = transformers.GenerationConfig(**{
        k: tiny_gen[k] for k in ("eos_token_id", "pad_token_id") if k in tiny_gen})
    params = sum(p.numel() for p in model.parameters())
    log(f"random Qwen2.5-VL-7B on {device}: {params / 1e9:.2f} B parameters; saving")
    for stale in out.glob("model*.safetensors*"):
        stale.unlink()
    model.save_pretrained(out, safe_serialization=True, max_shard_size="5GB")
    (out / "TINY_MODEL.txt").unlink(missing_ok=True)  # the weights are not the tiny ones
    del model
    if device.startswith("cuda"):
        torch.cuda.empty_cache()
    return out


def frames(count: int) -> list[Image.Image]:
    return [Image.effect_noise(FRAME_SIZE, 60 + i).convert("RGB") for i in range(count)]


async def measure(backend: LocalHFBackend, count: int, n: int,
                  max_tokens: int) -> dict[str, float]:
    """One sample(n) call vs n sample(1) calls: tokens, seconds, tokens/s for each."""
    images = frames(count)
    prompt = build_prompt("What is the person holding, and when?",
                          [float(i) for i in range(count)], duration=float(count))
    sp = SamplingParams(temperature=1.0, top_p=1.0, max_tokens=max_tokens, seed=7)
    await backend.sample(prompt, images, 1, SamplingParams(max_tokens=2))  # warm-up
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    shared = await backend.sample(prompt, images, n, sp)
    out["shared_s"] = time.perf_counter() - t0
    out["shared_tokens"] = shared.usage.completion_tokens
    out["prompt_tokens"] = shared.usage.prompt_tokens
    t0 = time.perf_counter()
    single = 0
    for _ in range(n):
        single += (await backend.sample(prompt, images, 1, sp)).usage.completion_tokens
    out["single_s"] = time.perf_counter() - t0
    out["single_tokens"] = single
    return out


def floor_tokens_per_s(params: int, config: Any, rows: int, context: int,
                       bandwidth_gbs: float) -> float:
    """Decode's memory-bandwidth floor: weights once per step + each row's KV cache."""
    text = config.text_config
    head_dim = text.hidden_size // text.num_attention_heads
    kv = rows * context * text.num_hidden_layers * 2 * text.num_key_value_heads * head_dim * 2
    step_s = (params * 2 + kv) / (bandwidth_gbs * 1e9)
    return rows / step_s


def peak_memory(device: str) -> str:
    import torch

    if device.startswith("cuda"):
        return f"{torch.cuda.max_memory_allocated() / 2**30:.1f} GiB GPU (max allocated)"
    rss_kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return f"{rss_kib / 2**20:.2f} GiB host RSS (no GPU)"


def report(r: dict[str, float], *, n: int, params: int, config: Any, device: str,
           bandwidth: float, max_tokens: int) -> None:
    context = int(r["prompt_tokens"] + max_tokens / 2)  # mean context during decoding
    rows = {f"1 x sample(n={n})": (r["shared_tokens"], r["shared_s"], n),
            f"{n} x sample(n=1)": (r["single_tokens"], r["single_s"], 1)}
    print(f"\nprompt: {int(r['prompt_tokens'])} tokens; {max_tokens} new tokens per row; "
          f"peak memory {peak_memory(device)}")
    print(f"{'run':<18} {'tokens':>7} {'seconds':>8} {'tok/s':>8} {'floor tok/s':>12} "
          f"{'ratio':>6}")
    for name, (tokens, seconds, batch) in rows.items():
        rate = tokens / seconds if seconds else 0.0
        floor = floor_tokens_per_s(params, config, batch, context, bandwidth)
        print(f"{name:<18} {int(tokens):>7} {seconds:>8.2f} {rate:>8.1f} {floor:>12.1f} "
              f"{rate / floor:>6.3f}")
    speedup = (r["single_s"] / r["shared_s"]) if r["shared_s"] else 0.0
    print(f"shared prefill + one generate over {n} rows is {speedup:.2f}x faster "
          f"than {n} single calls")


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--tiny", action="store_true", help="the tiny config (CPU smoke test)")
    p.add_argument("--device", default="cuda")
    p.add_argument("--frames", type=int, default=16)
    p.add_argument("--n", type=int, default=8)
    p.add_argument("--max-tokens", type=int, default=128)
    p.add_argument("--bandwidth-gbs", type=float, default=4800.0,
                   help="HBM bandwidth in GB/s (H200: 4800)")
    p.add_argument("--keep", type=Path, help="build the checkpoint here and keep it")
    args = p.parse_args(argv)
    import torch

    if args.device.startswith("cuda") and not torch.cuda.is_available():
        print("no CUDA device: run with --tiny --device cpu for the smoke test",
              file=sys.stderr)
        return 2
    start = time.perf_counter()
    work = args.keep or Path(tempfile.mkdtemp(prefix="o3-gpu-check-"))
    try:
        log(f"building the {'tiny' if args.tiny else 'full-size'} checkpoint in {work}")
        build_checkpoint(work, tiny=args.tiny, device=args.device)
        log("loading it with LocalHFBackend (from_pretrained, bf16)")
        backend = LocalHFBackend(work, device=args.device, dtype="bfloat16")
        loaded = backend._model()  # load now, so the timings below are generation only
        params = sum(p.numel() for p in loaded.model.parameters())
        log(f"measuring: {args.frames} frames of {FRAME_SIZE[0]}x{FRAME_SIZE[1]}, n={args.n}")
        result = asyncio.run(measure(backend, args.frames, args.n, args.max_tokens))
        report(result, n=args.n, params=params, config=loaded.model.config,
               device=args.device, bandwidth=args.bandwidth_gbs, max_tokens=args.max_tokens)
    finally:
        if args.keep is None:
            shutil.rmtree(work, ignore_errors=True)
    log(f"total {time.perf_counter() - start:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
