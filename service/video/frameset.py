"""The sampler's output: decoded frames ready to feed the model, plus their metadata.

A `FrameSet` pairs the PIL images (RGB, display orientation, resized to `meta.fed_size`)
with the `FrameSetMeta` that says where they came from. It holds no PyAV objects, so
the inference pipeline and training can use it without importing av.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from PIL import Image

from service.grounding.types import FrameSetMeta


@dataclass(frozen=True)
class FrameSet:
    frames: Sequence[Image.Image]
    meta: FrameSetMeta

    def __post_init__(self) -> None:
        if len(self.frames) != len(self.meta.times):
            raise ValueError(
                f"FrameSet has {len(self.frames)} frames but {len(self.meta.times)} times"
            )
