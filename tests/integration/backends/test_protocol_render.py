"""The served local model renders every protocol's prompt exactly as the golden tests do.

tests/unit/grounding/test_golden_prompts.py compares our prompts with the release's
through transformers' `render_jinja_template` and the base model's chat template text.
The local backend renders with the checkpoint's processor (`encode_prompt`): this checks
that, on the project's tiny checkpoint (same template, locally trained tokenizer), the two
renderings are the same text for one prompt per protocol, video and image.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.grounding.prompt import PromptSpec, build_image_prompt, build_prompt, to_hf_messages
from service.grounding.protocols import NEEDS_INSTRUCTION, Protocol
from service.grounding.types import Prompt


def prompts() -> list[tuple[str, Prompt]]:
    out = []
    for p in Protocol:
        extra = {"instruction": "Give boxes.\n"} if p in NEEDS_INSTRUCTION else {}
        if p is Protocol.VSTAR_WHEN_CHAIN2:
            extra["preamble"] = "This video is 2.0 seconds long. "
        spec = PromptSpec(protocol=p, subtitles="A line." if p is Protocol.RL else None,
                          **extra)  # type: ignore[arg-type]
        out.append((p.value, build_prompt("What moves?\nA. a\nB. b", [0.0, 0.7, 1.3],
                                          duration=2.0, spec=spec)))
        out.append((p.value + "-image", build_image_prompt("Where?", spec=PromptSpec(protocol=p))))
    return out


@pytest.fixture(scope="module")
def processor(tiny_checkpoint: Path) -> Any:
    from service.inference.processor import load_processor

    return load_processor(tiny_checkpoint)  # what the local backend renders with


@pytest.mark.parametrize(("name", "prompt"), prompts(), ids=[n for n, _ in prompts()])
def test_checkpoint_template_renders_like_the_golden_tests(
        processor: Any, name: str, prompt: Prompt) -> None:
    from transformers.utils.chat_template_utils import render_jinja_template

    from service.inference.tiny import QWEN25_VL_CHAT_TEMPLATE
    served = processor.apply_chat_template(to_hf_messages(prompt), tokenize=False,
                                           add_generation_prompt=True)
    golden, _ = render_jinja_template([to_hf_messages(prompt)],
                                      chat_template=QWEN25_VL_CHAT_TEMPLATE,
                                      add_generation_prompt=True)
    assert served == golden[0]
