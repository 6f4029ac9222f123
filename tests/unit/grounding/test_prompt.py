"""Prompt builder: exact labels and layout, task detection, verbatim system prompts, and the
two renderers producing the same model-visible text under the Qwen2.5-VL chat template."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from service.grounding import prompt as pr
from service.grounding.types import ImagePart, TaskType, TextPart
from service.inference.tiny import QWEN25_VL_CHAT_TEMPLATE

# SPEC section 2, verbatim.
SPEC_FREE_FORM = (
    "A conversation between user and assistant. The user provides a video and asks a question, "
    "and the Assistant solves it. The assistant MUST first think about the reasoning process in "
    "the mind and then provide the user with the answer. The reasoning process and answer are "
    "enclosed within <think> </think> and <answer> </answer> tags, respectively. All reasoning "
    "must be grounded in visual evidence from the video. When you mention any related object, "
    "person, or specific visual element in the reasoning process, you must strictly follow the "
    "following format: `<obj>object_name</obj><box>bounding_box</box>at<t>time_in_seconds</t>s`."
    " The answer part only requires a text response; tags like <obj>, <box>, <t> are not needed."
)

# The Qwen2.5-VL chat template (chat_template.json of the base model), unchanged: the
# one the project ships with its tokenizer files.
QWEN_TEMPLATE = QWEN25_VL_CHAT_TEMPLATE
IMG = "<|vision_start|><|image_pad|><|vision_end|>"

LABELS = [
    (1, 0.0, "Frame 1 at 0.0s: "),      # labels count from 1; one decimal
    (2, 2.06, "Frame 2 at 2.1s: "),     # rounded to one decimal
    (16, 599.94, "Frame 16 at 599.9s: "),  # long videos keep seconds (no mm:ss)
]


@pytest.mark.parametrize(("i", "t", "expected"), LABELS)
def test_frame_label(i: int, t: float, expected: str) -> None:
    assert pr.frame_label(i, t) == expected


def test_build_prompt_layout() -> None:
    p = pr.build_prompt("What is he doing?", [0.0, 2.06], duration=33.4, add_duration_line=True)
    assert p.user == (
        TextPart("Frame 1 at 0.0s: "),
        ImagePart(0),
        TextPart("\nFrame 2 at 2.1s: "),
        ImagePart(1),
        TextPart("\nThe video is in total 33 seconds.\nWhat is he doing?"),
    )
    assert p.system == SPEC_FREE_FORM and p.task is TaskType.FREE_FORM
    assert p.image_count == 2


def test_duration_line_by_default_and_off_when_asked() -> None:
    # Guards: the serving default is the RL stage's format, whose trainer appends the line
    # for EVERY video task, grounded free-form included (SPEC 1); training may turn it off.
    p = pr.build_prompt("Q?", [1.0], duration=10.0)
    assert p.user[-1] == TextPart("\nThe video is in total 10 seconds.\nQ?")
    off = pr.build_prompt("Q?", [1.0], duration=10.0, add_duration_line=False)
    assert off.user[-1] == TextPart("\nQ?")


def test_mcq_options_are_lettered_into_the_question() -> None:
    p = pr.build_prompt("Which colour?", [0.0], options=["red", "(B) blue"])
    assert p.task is TaskType.MCQ
    assert p.system == pr.MCQ_SYSTEM_PROMPT
    assert p.user[-1] == TextPart("\nWhich colour?\nA. red\n(B) blue")


def test_system_prompts() -> None:
    assert pr.SYSTEM_PROMPTS[TaskType.FREE_FORM] == SPEC_FREE_FORM
    # SPEC: the MCQ variant changes the first sentence and replaces the last one.
    mcq = SPEC_FREE_FORM.replace("asks a question", "asks a multiple-choice question")
    mcq = mcq.rsplit(" The answer part", 1)[0]
    assert pr.SYSTEM_PROMPTS[TaskType.MCQ] == (
        mcq + " Only output the correct option in the <answer> </answer> section."
    )
    temporal = pr.SYSTEM_PROMPTS[TaskType.TEMPORAL]
    assert "determines the precise time period" in temporal
    assert temporal.endswith("`From <t>start_time</t>s to <t>end_time</t>s'.")
    assert pr.system_prompt(TaskType.TEMPORAL, with_options=True).endswith(
        "s.\nCorrect Option: [ONLY THE LETTER]'."
    )


DETECT: list[tuple[str, list[str] | None, str | None, TaskType]] = [
    ("What happens?", None, None, TaskType.FREE_FORM),                 # plain question
    ("Which?\nA. red\nB. blue", None, None, TaskType.MCQ),             # option lines in text
    ("Which?\n(A) red\n(B) blue", None, None, TaskType.MCQ),           # parenthesised options
    ("Which?", ["red", "blue"], None, TaskType.MCQ),                   # options passed apart
    ("Which?\nA. red\nB. blue", None, "free-form", TaskType.FREE_FORM),  # explicit task wins
    ("When does he jump?", None, None, TaskType.FREE_FORM),            # temporal never guessed
    ("When does he jump?", None, "temporal", TaskType.TEMPORAL),       # ...only explicit
    ("A. Lincoln spoke.", None, None, TaskType.FREE_FORM),             # one "A." line is no MCQ
    ("Plan:\nB. later\nC. never", None, None, TaskType.FREE_FORM),     # lists not from A/B
]


@pytest.mark.parametrize(("question", "options", "task", "expected"), DETECT)
def test_detect_task(
    question: str, options: list[str] | None, task: str | None, expected: TaskType
) -> None:
    assert pr.detect_task(question, options, task) is expected


def test_unknown_explicit_task_is_an_error() -> None:
    # Guards: the gateway turns this ValueError into a 4xx; it must not silently default.
    with pytest.raises(ValueError):
        pr.detect_task("Q?", None, "essay")


def test_scorer_prompt() -> None:
    p = pr.build_scorer_prompt("Is the cup red?", 3)
    assert p.system == "You are a helpful assistant. Only reply with a single digit: 0, 1, or 2."
    assert isinstance(p.user[0], TextPart)
    assert p.user[0].text.endswith("No other text.\nQuestion: Is the cup red?")
    assert p.user[1:] == (ImagePart(0), ImagePart(1), ImagePart(2))


def test_user_content_alternates_and_slots_are_in_order() -> None:
    p = pr.build_prompt("Q?", [0.0, 1.0, 2.0], duration=3.0, add_duration_line=True)
    kinds = [type(part) for part in p.user]
    assert all(a is not b for a, b in itertools.pairwise(kinds))
    assert pr.image_slots(p) == [0, 1, 2]


def test_openai_messages_shape() -> None:
    p = pr.build_prompt("Q?", [0.0, 1.0])
    msgs = pr.to_openai_messages(p, ["data:image/png;base64,AA", "data:image/png;base64,BB"])
    assert msgs[0] == {"role": "system", "content": p.system}
    content = msgs[1]["content"]
    assert [c["type"] for c in content] == ["text", "image_url", "text", "image_url", "text"]
    assert content[3]["image_url"]["url"].endswith("BB")


def test_openai_messages_refuse_missing_images() -> None:
    with pytest.raises(ValueError, match="2 image slots but 1"):
        pr.to_openai_messages(pr.build_prompt("Q?", [0.0, 1.0]), ["data:,"])


def render(messages: list[dict[str, Any]]) -> str:
    jinja2 = pytest.importorskip("jinja2", reason="jinja2 renders the chat template")
    template = jinja2.Environment().from_string(QWEN_TEMPLATE)
    return template.render(messages=messages, add_generation_prompt=True)


@pytest.mark.parametrize("task", [None, TaskType.MCQ, TaskType.TEMPORAL])
def test_both_renderers_give_the_same_model_text(task: TaskType | None) -> None:
    p = pr.build_prompt(
        "Q?\nA. x\nB. y", [0.0, 2.06], task=task, duration=9, add_duration_line=True
    )
    via_openai = render(pr.to_openai_messages(p, ["data:,a", "data:,b"]))
    via_hf = render(pr.to_hf_messages(p))
    assert via_openai == via_hf
    assert via_hf == (
        f"<|im_start|>system\n{p.system}<|im_end|>\n<|im_start|>user\n"
        f"Frame 1 at 0.0s: {IMG}\nFrame 2 at 2.1s: {IMG}\n"
        "The video is in total 9 seconds.\nQ?\nA. x\nB. y<|im_end|>\n<|im_start|>assistant\n"
    )
