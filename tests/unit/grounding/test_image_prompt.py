"""`build_image_prompt`: the image-only prompt of the ONE builder (visual QA records)."""

from __future__ import annotations

import pytest

from service.grounding.prompt import (
    PromptSpec,
    build_image_prompt,
    build_prompt,
    to_hf_messages,
    to_openai_messages,
)
from service.grounding.protocols import IMAGE_SYSTEM_PROMPT, SFT_IMAGE_SYSTEM_PROMPT, Protocol
from service.grounding.types import ImagePart, TaskType, TextPart

CASES = [
    # plain visual QA: the release's IMAGE system prompt (its answer is a box), question after
    ("Where is the red square?", None, None, TaskType.FREE_FORM, IMAGE_SYSTEM_PROMPT,
     "Where is the red square?"),
    # option lines in the question make it MCQ, as for videos
    ("Which shape?\nA. red\nB. blue", None, None, TaskType.MCQ, IMAGE_SYSTEM_PROMPT,
     "Which shape?\nA. red\nB. blue"),
    # options given separately are lettered and appended, like the video builder
    ("Which shape?", ["red", "blue"], None, TaskType.MCQ, IMAGE_SYSTEM_PROMPT,
     "Which shape?\nA. red\nB. blue"),
    # an explicit task wins over option lines
    ("Which shape?\nA. red\nB. blue", None, TaskType.FREE_FORM, TaskType.FREE_FORM,
     IMAGE_SYSTEM_PROMPT, "Which shape?\nA. red\nB. blue"),
]


@pytest.mark.parametrize(("question", "options", "task", "want_task", "system", "text"), CASES)
def test_image_prompt_cases(question: str, options: list[str] | None, task: TaskType | None,
                            want_task: TaskType, system: str, text: str) -> None:
    prompt = build_image_prompt(question, task=task, options=options)
    assert prompt.task is want_task
    assert prompt.system == system
    assert prompt.user == (ImagePart(0), TextPart(text))


def test_image_prompt_has_no_frame_label_or_time() -> None:
    # guards against the old workaround: a one-frame "video" labelled "Frame 1 at 0.0s"
    prompt = build_image_prompt("Where is the cup?")
    user_text = "".join(p.text for p in prompt.user if isinstance(p, TextPart))
    assert "Frame" not in user_text and "0.0s" not in user_text
    assert prompt.image_count == 1
    video = build_prompt("Where is the cup?", [0.0])
    assert video.user != prompt.user  # the video builder is unchanged


def test_image_prompt_renders_one_image_in_both_renderers() -> None:
    # the same slot order reaches OpenAI image_url parts and transformers image entries
    prompt = build_image_prompt("Where is the cup?")
    hf_user = to_hf_messages(prompt)[1]["content"]
    assert [c["type"] for c in hf_user] == ["image", "text"]
    oa_user = to_openai_messages(prompt, ["data:image/png;base64,AAAA"])[1]["content"]
    assert [c["type"] for c in oa_user] == ["image_url", "text"]
    with pytest.raises(ValueError, match="1 image slots"):
        to_openai_messages(prompt, [])


@pytest.mark.parametrize("protocol", list(Protocol))
def test_every_protocol_gives_an_image_the_image_prompt(protocol: Protocol) -> None:
    # guards the old bug: the video free-form prompt forbids the box the image answer is
    prompt = build_image_prompt("Where is the cup?", spec=PromptSpec(protocol=protocol))
    want = SFT_IMAGE_SYSTEM_PROMPT if protocol is Protocol.SFT else IMAGE_SYSTEM_PROMPT
    assert prompt.system == want
    assert prompt.user == (ImagePart(0), TextPart("Where is the cup?"))
