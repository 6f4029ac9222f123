"""The local transformers backend: a Qwen2.5-VL checkpoint directory, in-process.

Owns loading a Hugging Face Qwen2.5-VL checkpoint (the real Open-o3 Video weights or
the tiny random one from `service.inference.tiny`) and running `generate` on it.

Invariants:
- torch and transformers are imported lazily, inside functions: importing this module
  costs nothing, so the gateway imports it without them installed.
- One load per process and checkpoint: `_LOADED` caches (path, device, dtype) -> model.
- Frames go in as IMAGES through the image processor (no torchvision needed): the
  prompt is rendered by `service.grounding.prompt.to_hf_messages`, then the
  processor's chat template, then `processor(text=..., images=...)`.
- `sample` prefills the prompt (vision encoder included) ONCE, repeats that KV cache n
  times and makes ONE `generate` call over the n rows: the shared prefill vLLM gets
  from `n=N`. (`num_return_sequences=n` would run the vision encoder and the prefill
  n times over.) Greedy output is identical to a plain `generate` (tested). Every
  sampling parameter is passed explicitly (a fresh GenerationConfig, never the
  checkpoint's). Temperature 0 is greedy: one sequence, repeated n times.
- Work runs off the event loop (`asyncio.to_thread`): at most `max_concurrency`
  requests are encoded at once (a thread semaphore, so it works from any event loop)
  and one `generate` at a time per loaded model, because Qwen2.5-VL keeps its rope
  deltas on the module between prefill and decode. Seeded calls also hold a
  process-wide lock: torch's RNG is global.
- Cancelling the awaiting task stops the generation at the next token (a stopping
  criterion watches a flag), so an abandoned request frees the model quickly.
- Usage counts real tokens: the prompt once (as the processor tokenized it, vision
  tokens included) and every token of every row actually generated; `score` reports
  the same for its one greedy row.
- A prompt longer than the model's context raises `PromptTooLong` with advice;
  `max_new_tokens` is clamped to what is left of the context (finish_reason "length").
- torch's thread pools are sized from `threads` (`service.inference.cpu_budget`; 0 =
  the cores available, one process) in the worker thread of every load and call:
  the intra-op size is per OS thread, so setting it once at start reaches only the
  thread that set it.
- `load()` records when it began: `loading_s()` says for how long the model has been
  loading (None when it is not), so /ready can answer "loading" without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PIL import Image

from service.grounding.prompt import image_slots, to_hf_messages
from service.grounding.types import Prompt
from service.inference.backend import (
    GREEDY,
    BackendBadRequest,
    BackendHealth,
    BackendUnavailable,
    Completion,
    PromptTooLong,
    SampleResult,
    SamplingParams,
    ScoreResult,
    Usage,
)
from service.inference.checkpoint import CheckpointInfo, inspect_checkpoint, too_long_advice
from service.inference.cpu_budget import (
    apply_torch_threads,
    prefer_passive_waits,
    resolve_threads,
)
from service.inference.processor import load_processor


@dataclass(frozen=True)
class LoadedModel:
    """A model and its processor, loaded once per process."""

    model: Any
    processor: Any
    device: str
    dtype: str
    max_positions: int
    eos_ids: frozenset[int]
    pad_id: int
    image_token_id: int
    lock: threading.Lock = field(default_factory=threading.Lock, compare=False)


_LOADED: dict[tuple[str, str, str], LoadedModel] = {}
_LOAD_LOCK = threading.Lock()
_RNG_LOCK = threading.Lock()
_DEFAULT_CONTEXT = 32768
_SEQUENCE_KEYS = ("input_ids", "attention_mask", "mm_token_type_ids", "token_type_ids")


def _module(name: str) -> Any:
    """Import lazily, typed as Any (torch and transformers stay optional)."""
    return importlib.import_module(name)


def _resolve_device(device: str) -> str:
    if device != "auto":
        return device
    return "cuda" if _module("torch").cuda.is_available() else "cpu"


def _resolve_dtype(dtype: str, device: str) -> Any:
    torch = _module("torch")
    if dtype == "auto":
        return torch.bfloat16 if device.startswith("cuda") else torch.float32
    return getattr(torch, dtype)


def load_model(info: CheckpointInfo, device: str = "auto", dtype: str = "auto") -> LoadedModel:
    """Load (or return the cached) model + processor for a checkpoint directory."""
    key = (str(info.path), device, dtype)
    with _LOAD_LOCK:
        if key not in _LOADED:
            _LOADED[key] = _load(info, device, dtype)
        return _LOADED[key]


def _load(info: CheckpointInfo, device: str, dtype: str) -> LoadedModel:
    model_class = _module("transformers").Qwen2_5_VLForConditionalGeneration
    dev = _resolve_device(device)
    torch_dtype = _resolve_dtype(dtype, dev)
    model = model_class.from_pretrained(str(info.path), dtype=torch_dtype)
    model = model.to(dev).eval()
    processor = load_processor(info.path)
    gen = model.generation_config
    eos = gen.eos_token_id if gen.eos_token_id is not None else []
    eos_ids = frozenset([eos] if isinstance(eos, int) else eos)
    tok = processor.tokenizer
    pad = gen.pad_token_id if gen.pad_token_id is not None else tok.pad_token_id
    return LoadedModel(
        model=model, processor=processor, device=dev, dtype=str(torch_dtype),
        max_positions=info.max_positions or _DEFAULT_CONTEXT,
        eos_ids=eos_ids | {tok.eos_token_id}, pad_id=int(pad if pad is not None else 0),
        image_token_id=int(model.config.image_token_id),
    )


class LocalHFBackend:
    """Backend protocol on a local Qwen2.5-VL checkpoint directory (transformers)."""

    def __init__(
        self,
        checkpoint: Path | str,
        *,
        device: str = "auto",
        dtype: str = "auto",
        max_concurrency: int = 1,
        threads: int = 0,
    ) -> None:
        if max_concurrency < 1:
            raise ValueError("max_concurrency must be >= 1")
        self._info = inspect_checkpoint(checkpoint)
        self._device = device
        self._dtype = dtype
        self.threads = resolve_threads(threads, workers=1)  # torch pool size (cpu_budget)
        prefer_passive_waits()  # before torch is imported: OpenMP reads it once
        self._loading_since: float | None = None
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self.generate_calls = 0  # how many times `model.generate` ran (tests, metrics)
        self.cancelled_generations = 0  # generations stopped because the caller left

    @property
    def model_id(self) -> str:
        return self._info.model_id

    @property
    def revision(self) -> str:
        return self._info.revision

    @property
    def info(self) -> CheckpointInfo:
        return self._info

    @property
    def max_model_len(self) -> int:
        """The text context the checkpoint allows (prompt + generated tokens)."""
        return self._info.max_positions or _DEFAULT_CONTEXT

    def count_prompt_tokens(self, prompt: Prompt, images: Sequence[Image.Image]) -> int:
        """Prompt tokens (text + vision) as the processor renders them. Blocking."""
        return int(encode_prompt(self._model(), prompt, images)["input_ids"].shape[1])

    @property
    def loaded(self) -> bool:
        return (str(self._info.path), self._device, self._dtype) in _LOADED

    async def load(self) -> None:
        """Load the model now (off the event loop) instead of on the first request."""
        self._loading_since = time.monotonic()
        try:
            await asyncio.to_thread(self._model)
        finally:
            self._loading_since = None

    def loading_s(self) -> float | None:
        """Seconds `load()` has been running; None when no load is in progress."""
        since = self._loading_since
        return None if since is None else time.monotonic() - since

    async def sample(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        n: int,
        sampling: SamplingParams,
    ) -> SampleResult:
        _check_request(prompt, images, n, sampling)
        cancel = threading.Event()
        try:
            return await asyncio.to_thread(self._run, prompt, list(images), n, sampling, cancel)
        except asyncio.CancelledError:
            cancel.set()  # the worker thread stops at its next token
            raise

    async def score(
        self,
        prompt: Prompt,
        images: Sequence[Image.Image],
        *,
        sampling: SamplingParams | None = None,
    ) -> ScoreResult:
        result = await self.sample(prompt, images, 1, sampling or GREEDY)
        return ScoreResult(result.completions[0].text, result.usage)

    async def health(self) -> BackendHealth:
        loading = self.loading_s()
        if loading is not None:  # never wait here for a load in progress
            return BackendHealth(False, self.model_id, f"loading for {loading:.1f} s",
                                 loading=True)
        try:
            loaded = await asyncio.to_thread(self._model)
        except Exception as exc:  # a broken checkpoint is "not ready", with the reason
            return BackendHealth(False, self.model_id, f"load failed: {exc}")
        detail = f"loaded on {loaded.device} ({loaded.dtype})"
        if self._info.random_tiny_model:
            detail += "; random tiny model"
        return BackendHealth(True, self.model_id, detail)

    async def close(self) -> None:
        return None  # the model stays cached for the process (one load per process)

    def _model(self) -> LoadedModel:
        apply_torch_threads(self.threads)  # per thread: OpenMP keeps it per OS thread
        try:
            return load_model(self._info, self._device, self._dtype)
        except (OSError, ValueError) as exc:
            raise BackendUnavailable(f"cannot load {self._info.path}: {exc}") from exc

    def _run(
        self, prompt: Prompt, images: list[Image.Image], n: int, sampling: SamplingParams,
        cancel: threading.Event,
    ) -> SampleResult:
        loaded = self._model()
        with self._slots:
            inputs = encode_prompt(loaded, prompt, images)
            max_new = _budget(loaded, inputs, prompt.image_count, sampling.max_tokens)
            greedy = sampling.temperature <= 0
            rows = 1 if greedy else n
            criterion = _CancelCriterion(cancel)
            with loaded.lock:
                sequences = self._generate(loaded, inputs, rows, max_new, sampling, criterion)
            if criterion.fired:
                self.cancelled_generations += 1
        prompt_len = int(inputs["input_ids"].shape[1])
        generated = _completions(loaded, sequences[:, prompt_len:], max_new)
        # usage counts what was really computed: the prompt once, each generated row once
        usage = Usage(prompt_len, sum(c.tokens for c in generated))
        return SampleResult(tuple(generated * n if greedy else generated), usage)

    def _generate(
        self, loaded: LoadedModel, inputs: Any, rows: int, max_new: int,
        sampling: SamplingParams, criterion: _CancelCriterion,
    ) -> Any:
        config = generation_config(loaded, max_new, sampling)
        stop = _module("transformers").StoppingCriteriaList([criterion])
        seed = None if sampling.temperature <= 0 else sampling.seed
        with _module("torch").inference_mode(), _seeded(loaded, seed):
            self.generate_calls += 1
            if rows == 1:
                return loaded.model.generate(
                    **inputs, generation_config=config, stopping_criteria=stop)
            cache = prefill_once(loaded, inputs, rows)
            tail = {k: inputs[k].repeat(rows, 1) for k in _SEQUENCE_KEYS if k in inputs}
            return loaded.model.generate(
                **tail, past_key_values=cache, generation_config=config, stopping_criteria=stop)


class _CancelCriterion:
    """A generate stopping criterion: every row is done once `flag` is set."""

    def __init__(self, flag: threading.Event) -> None:
        self.flag = flag
        self.fired = False  # True once it stopped a generation

    def __call__(self, input_ids: Any, scores: Any, **kwargs: Any) -> Any:
        torch = _module("torch")
        stop = self.flag.is_set()
        self.fired = self.fired or stop
        return torch.full((input_ids.shape[0],), stop, dtype=torch.bool,
                          device=input_ids.device)


def prefill_once(loaded: LoadedModel, inputs: Any, rows: int) -> Any:
    """Run the prompt (minus its last token) once; return its KV cache repeated `rows` times.

    `generate` then feeds the last prompt token for every row and samples on. The
    vision encoder runs here, once; Qwen2.5-VL stores the prompt's rope deltas on the
    module, and `generate` reuses them for the repeated rows.
    """
    head = {k: (v[:, :-1] if k in _SEQUENCE_KEYS else v) for k, v in inputs.items()}
    cache = _module("transformers").DynamicCache(config=loaded.model.config)
    loaded.model(**head, past_key_values=cache, use_cache=True, logits_to_keep=1)
    cache.batch_repeat_interleave(rows)
    return cache


@contextlib.contextmanager
def _seeded(loaded: LoadedModel, seed: int | None) -> Iterator[None]:
    """Seed torch's global RNG for this call only (restored after); no-op without a seed."""
    if seed is None:
        yield
        return
    torch = _module("torch")
    devices = [torch.device(loaded.device).index or 0] if loaded.device.startswith("cuda") else []
    with _RNG_LOCK, torch.random.fork_rng(devices=devices):
        torch.manual_seed(seed)
        yield


def _check_request(
    prompt: Prompt, images: Sequence[Image.Image], n: int, sampling: SamplingParams
) -> None:
    if n < 1:
        raise BackendBadRequest(f"n must be >= 1, got {n}")
    if sampling.max_tokens < 1:
        raise BackendBadRequest(f"max_tokens must be >= 1, got {sampling.max_tokens}")
    needed = max(image_slots(prompt), default=-1) + 1
    if needed > len(images):
        raise BackendBadRequest(
            f"the prompt refers to {needed} images but {len(images)} were given"
        )


def encode_prompt(loaded: LoadedModel, prompt: Prompt, images: Sequence[Image.Image]) -> Any:
    """Prompt + frames -> model inputs (input_ids, pixel_values, image_grid_thw...)."""
    processor = loaded.processor
    text = processor.apply_chat_template(
        to_hf_messages(prompt), tokenize=False, add_generation_prompt=True
    )
    kwargs: dict[str, Any] = {"text": [text], "return_tensors": "pt"}
    slots = image_slots(prompt)
    if slots:
        kwargs["images"] = [images[i].convert("RGB") for i in slots]
    return processor(**kwargs).to(loaded.device)


def _budget(loaded: LoadedModel, inputs: Any, n_images: int, max_tokens: int) -> int:
    """Tokens left for generation; raises PromptTooLong when the prompt does not fit."""
    ids = inputs["input_ids"][0]
    prompt_len = int(ids.shape[0])
    room = loaded.max_positions - prompt_len
    if room >= 1:
        return min(max_tokens, room)
    image_tokens = int((ids == loaded.image_token_id).sum())
    per_image = image_tokens / n_images if n_images else 0.0
    advice = too_long_advice(prompt_len + 1, loaded.max_positions, n_images, per_image)
    raise PromptTooLong(f"{advice}; or serve a checkpoint with a longer context (this one's "
                        f"config.json max_position_embeddings is {loaded.max_positions})")


def generation_config(loaded: LoadedModel, max_new: int, sampling: SamplingParams) -> Any:
    """A fresh GenerationConfig: every parameter explicit, nothing from the checkpoint."""
    greedy = sampling.temperature <= 0
    return _module("transformers").GenerationConfig(
        do_sample=not greedy,
        # greedy: the sampling knobs do not apply (None); sampling: all explicit, and
        # top_k 0 is "off" (the checkpoint's own config may say top_k=1, near-greedy)
        temperature=None if greedy else sampling.temperature,
        top_p=None if greedy else sampling.top_p,
        top_k=None if greedy else max(sampling.top_k, 0),
        repetition_penalty=sampling.repetition_penalty,
        max_new_tokens=max_new,
        num_return_sequences=1,  # rows come from the repeated prefill (prefill_once)
        eos_token_id=sorted(loaded.eos_ids),
        pad_token_id=loaded.pad_id,
    )


def _completions(loaded: LoadedModel, generated: Any, max_new: int) -> list[Completion]:
    """Decode each generated row up to its first end-of-sequence token."""
    tokenizer = loaded.processor.tokenizer
    out: list[Completion] = []
    for row in generated.tolist():
        end = next((i for i, tok in enumerate(row) if tok in loaded.eos_ids), None)
        kept = row if end is None else row[:end]
        text = tokenizer.decode(kept, skip_special_tokens=True)
        tokens = len(kept) + (0 if end is None else 1)
        reason = "stop" if end is not None or len(kept) < max_new else "length"
        out.append(Completion(text, reason, tokens))
    return out
