"""Shared test fixtures for model backends: the tiny checkpoint, a local backend, frames.

Use from any test area's conftest.py:

    from tests.support.fixtures import local_backend, tiny_checkpoint  # noqa: F401

- `tiny_checkpoint` (session): a directory holding the random tiny Qwen2.5-VL built by
  `service.inference.tiny` (seed 0). Built once per machine and code version: it is cached under
  the temp dir, keyed by a hash of the builder's inputs, and published with an atomic
  rename, so parallel workers never see half a checkpoint.
- `local_backend` (session): a `LocalHFBackend` on it (the model loads on first use).
- `make_frames(n)`: n distinct 420x224 RGB frames drawn with PIL (a moving square).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from PIL import Image, ImageDraw

from service.inference.local_hf import LocalHFBackend

_BUILT: dict[int, Path] = {}


def _cache_key(seed: int) -> str:
    import transformers

    import service.grounding.prompt as prompt_module
    import service.inference.tiny as tiny_module

    digest = hashlib.sha256(f"{seed}:{transformers.__version__}".encode())
    for module in (tiny_module, prompt_module):
        digest.update(Path(str(module.__file__)).read_bytes())
    return digest.hexdigest()[:16]


def build_tiny_once(seed: int = 0) -> Path:
    """The tiny checkpoint for `seed`, built at most once per machine and code version."""
    if seed in _BUILT:
        return _BUILT[seed]
    from service.inference.tiny import build_tiny_checkpoint

    final = Path(tempfile.gettempdir()) / f"o3-tiny-{_cache_key(seed)}"
    if not (final / "model.safetensors").exists():
        staging = Path(tempfile.mkdtemp(prefix="o3-tiny-build-"))
        build_tiny_checkpoint(staging / "tiny", seed)
        with contextlib.suppress(OSError):  # atomic; a lost race leaves the winner's copy
            os.rename(staging / "tiny", final)
        shutil.rmtree(staging, ignore_errors=True)
    _BUILT[seed] = final
    return final


@pytest.fixture(scope="session")
def tiny_checkpoint() -> Path:
    return build_tiny_once(0)


@pytest.fixture(scope="session")
def local_backend(tiny_checkpoint: Path) -> LocalHFBackend:
    return LocalHFBackend(tiny_checkpoint)


def make_frames(n: int, size: tuple[int, int] = (420, 224)) -> list[Image.Image]:
    """n distinct frames: a red square moving left to right over a grey background."""
    width, height = size
    frames = []
    for i in range(n):
        image = Image.new("RGB", size, (90, 90, 90))
        x = int((width - 40) * i / max(1, n - 1))
        ImageDraw.Draw(image).rectangle([x, height // 3, x + 40, height // 3 + 40],
                                        fill=(220, 30, 30))
        frames.append(image)
    return frames
