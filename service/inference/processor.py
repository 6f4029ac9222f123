"""The checkpoint's processor (tokenizer, image processor, chat template), loaded the
same way by the local backend, training and the tools.

Owns `load_processor(path)`: transformers' `AutoProcessor` where torchvision is
importable, else an image-only Qwen2.5-VL processor built from the same files (frames
go in as images, so the video processor, which needs torchvision, is never used).

Invariants:
- transformers is imported lazily: importing this module needs neither torch nor
  transformers.
- The image-only class is built once per process.
"""

from __future__ import annotations

import importlib
from pathlib import Path
from typing import Any


def load_processor(path: Path | str) -> Any:
    """The checkpoint's processor; the image-only variant where torchvision is missing.

    transformers builds Qwen2.5-VL's video processor with torchvision only; frames go
    in as images here, so without torchvision the same files load into
    `_image_only_class()` (tokenizer + image processor + chat template).
    """
    if importlib.import_module("transformers.utils").is_torchvision_available():
        return importlib.import_module("transformers").AutoProcessor.from_pretrained(str(path))
    return _image_only_class().from_pretrained(str(path))


_IMAGE_ONLY: list[Any] = []


def _image_only_class() -> Any:
    """`Qwen2_5_VLProcessor` without its video processor (built once, lazily)."""
    if _IMAGE_ONLY:
        return _IMAGE_ONLY[0]
    base = importlib.import_module("transformers").Qwen2_5_VLProcessor
    mixin = importlib.import_module("transformers.processing_utils").ProcessorMixin

    class ImageOnlyQwen2_5_VLProcessor(base):  # type: ignore[misc,valid-type]
        """Tokenizer + image processor + chat template; refuses `videos=`."""

        def __init__(
            self, image_processor: Any = None, tokenizer: Any = None,
            chat_template: str | None = None, **kwargs: Any,
        ) -> None:
            self.image_token = getattr(tokenizer, "image_token", None) or "<|image_pad|>"
            self.video_token = getattr(tokenizer, "video_token", None) or "<|video_pad|>"
            self.image_token_id = tokenizer.convert_tokens_to_ids(self.image_token)
            self.video_token_id = tokenizer.convert_tokens_to_ids(self.video_token)
            mixin.__init__(
                self, image_processor, tokenizer, chat_template=chat_template, **kwargs
            )

    _IMAGE_ONLY.append(ImageOnlyQwen2_5_VLProcessor)
    return ImageOnlyQwen2_5_VLProcessor
