"""Stand-ins for the heavy imports of the release's scripts, so THEIR functions run here.

Only what the release imports but never needs for the tables is replaced: the engine
(`vllm`), the processor (`transformers.AutoProcessor`), the video reader
(`qwen_vl_utils`) and OpenCV's resize. The release's own Python (reading, cropping
arithmetic, scorer-reply parsing, weights, the vote) runs unchanged.

- `FakeLLM.generate` answers from `SCRIPT`: a trace call (a `video` input) gets the next
  scripted trace, a scorer call (only `image`s) the next scripted reply; it records each
  scorer call (the question text given to the processor, the crops, the
  `SamplingParams` kwargs).
- Frames are a `Frames` array whose indexing is recorded, so the frame picked for a
  mention and the pixel rectangle cut from it are read off the release's own slicing.
- `cv2.resize` returns an array filled with the crop's serial number, so a scorer call's
  crops can be matched with the recorded rectangles (pixels are never compared).
"""

from __future__ import annotations

import logging
import sys
import types
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class Script:
    traces: list[str] = field(default_factory=list)
    replies: list[str] = field(default_factory=list)
    frames: Any = None
    fps: float = 1.0
    scorer_calls: list[dict[str, Any]] = field(default_factory=list)
    sampling: list[dict[str, Any]] = field(default_factory=list)
    selects: list[int] = field(default_factory=list)      # frame index of each read
    cuts: list[tuple[int, int, int, int, int]] = field(default_factory=list)
    resized: dict[int, tuple[int, int, int, int, int]] = field(default_factory=dict)
    last_question: str = ""
    trace_calls: int = 0

    def reset(self) -> None:
        self.scorer_calls.clear()
        self.sampling.clear()
        self.selects.clear()
        self.cuts.clear()
        self.resized.clear()
        self.trace_calls = 0
        _RESIZES[0] = 0


SCRIPT = Script()


class Frames(np.ndarray):
    """(T, C, H, W) frames whose `[i]` and `[y1:y2, x1:x2]` reads are recorded."""

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, int | np.integer) and self.ndim == 4:
            SCRIPT.selects.append(int(key) % self.shape[0])
        elif isinstance(key, tuple) and len(key) == 2 and self.ndim == 3:
            h, w = self.shape[0], self.shape[1]
            ys, xs = range(h)[key[0]], range(w)[key[1]]
            SCRIPT.cuts.append((SCRIPT.selects[-1], xs.start, ys.start, xs.stop, ys.stop))
        return super().__getitem__(key)


def make_frames(n: int, width: int, height: int) -> Frames:
    return np.zeros((n, 3, height, width), dtype=np.uint8).view(Frames)


class _SamplingParams:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs


class _Out:
    def __init__(self, text: str) -> None:
        self.outputs = [types.SimpleNamespace(text=text)]


class _LLM:
    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs

    def generate(self, inputs: list[dict[str, Any]], sampling_params: Any) -> list[_Out]:
        data = inputs[0]["multi_modal_data"]
        if "video" in data:
            SCRIPT.trace_calls += 1
            return [_Out(SCRIPT.traces.pop(0))]
        serials = [int(np.asarray(img).flat[0]) for img in data["image"]]
        crops = [list(SCRIPT.resized[s]) for s in serials]
        SCRIPT.scorer_calls.append({"trace": SCRIPT.trace_calls - 1,
                                    "question": SCRIPT.last_question, "crops": crops})
        SCRIPT.sampling.append(dict(sampling_params.kwargs))
        return [_Out(SCRIPT.replies.pop(0))]


class _Processor:
    tokenizer = types.SimpleNamespace(padding_side="right")

    @classmethod
    def from_pretrained(cls, *args: Any, **kwargs: Any) -> _Processor:
        return cls()

    def apply_chat_template(self, msgs: Any, **kwargs: Any) -> str:
        user = msgs[-1]["content"]
        texts = [p["text"] for p in user if isinstance(p, dict) and p.get("type") == "text"]
        SCRIPT.last_question = texts[0] if texts else ""
        return "prompt"


class _Video:
    def numpy(self) -> Any:
        return SCRIPT.frames


def _process_vision_info(messages: Any, return_video_kwargs: bool = False) -> Any:
    return None, [_Video()], {"fps": [SCRIPT.fps]}


_RESIZES = [0]


def _resize(img: Any, size: tuple[int, int], interpolation: Any = None) -> Any:
    _RESIZES[0] += 1
    SCRIPT.resized[_RESIZES[0]] = SCRIPT.cuts[-1]  # the slice cut just before
    w, h = size
    return np.full((h, w, img.shape[2]), _RESIZES[0], dtype=np.float32)


def install() -> None:
    """Put the stand-ins in `sys.modules` (before the release's modules are imported)."""
    vllm = types.ModuleType("vllm")
    vllm.LLM = _LLM  # type: ignore[attr-defined]
    vllm.SamplingParams = _SamplingParams  # type: ignore[attr-defined]
    transformers = types.ModuleType("transformers")
    transformers.AutoProcessor = _Processor  # type: ignore[attr-defined]
    transformers.AutoModelForCausalLM = None  # type: ignore[attr-defined]
    transformers.AutoTokenizer = None  # type: ignore[attr-defined]
    qwen = types.ModuleType("qwen_vl_utils")
    qwen.process_vision_info = _process_vision_info  # type: ignore[attr-defined]
    cv2 = types.ModuleType("cv2")
    cv2.resize = _resize  # type: ignore[attr-defined]
    cv2.INTER_LINEAR = 1  # type: ignore[attr-defined]
    for name, mod in (("vllm", vllm), ("transformers", transformers),
                      ("qwen_vl_utils", qwen), ("cv2", cv2)):
        sys.modules[name] = mod
    loguru = types.ModuleType("loguru")
    loguru.logger = logging.getLogger("release")  # type: ignore[attr-defined]
    sys.modules.setdefault("loguru", loguru)
    if "requests" not in sys.modules:
        try:
            import requests  # noqa: F401
        except ImportError:
            sys.modules["requests"] = types.ModuleType("requests")
