"""The ONE prompt builder (SPEC sections 1-2, 4.3), shared by the service and training.

It owns: the system prompts (verbatim from the released training code), the frame
label, task detection, and the two renderers of the neutral `Prompt` structure.

User turn layout (the model-visible text, for a Qwen chat template, where each image
slot renders as `<|vision_start|><|image_pad|><|vision_end|>`):

    Frame 1 at 0.0s: <image>
    Frame 2 at 2.1s: <image>
    The video is in total 33 seconds.      (only with add_duration_line)
    {question}
    A. ...                                 (MCQ options, when given separately)

i.e. the newline that ends a frame line sits at the START of the next text part,
right after the image. Consecutive text is always merged into one `TextPart`, so the
user content strictly alternates text / image, and both renderers (OpenAI
`image_url` parts, transformers `{"type": "image"}` entries) render to the same
token text under the Qwen2.5-VL template, which concatenates content parts with no
separator.

Task detection (`detect_task`): an explicit task always wins; otherwise options
passed separately, or at least two option lines (`A. ...`, `(B) ...`, `C) ...`) in the
question, mean MCQ; everything else is free-form. Temporal grounding is NEVER
guessed from wording ("when does ..." is also an ordinary free-form question the
model answers with evidence); a client asks for it explicitly.

Image-only prompts (`build_image_prompt`, the STGR `visual QA` records): one image
slot, then the question, no frame label and no duration line; the system prompt is the
task's usual one (free-form for visual QA, as the released RL code trains it).

Invariants: `ImagePart.index` values run 0..n-1 in order; label `i` starts at 1 and
the time is rounded to one decimal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from service.grounding.types import ImagePart, Prompt, PromptPart, TaskType, TextPart

# ---- system prompts (verbatim, including the released code's quote quirks) ---------

_PREAMBLE = (
    "A conversation between user and assistant. The user provides a video and asks a "
    "{kind}question, and the Assistant solves it. "
)
_THINK = (
    "The assistant MUST first think about the reasoning process in the mind and then "
    "provide the user with the answer. The reasoning process and answer are enclosed "
    "within <think> </think> and <answer> </answer> tags, respectively. "
)
_GROUNDED = (
    "All reasoning must be grounded in visual evidence from the video. When you mention "
    "any related object, person, or specific visual element in the reasoning process, "
    "you must strictly follow the following format: "
    "`<obj>object_name</obj><box>bounding_box</box>at<t>time_in_seconds</t>s`. "
)

FREE_FORM_SYSTEM_PROMPT = (
    _PREAMBLE.format(kind="")
    + _THINK
    + _GROUNDED
    + "The answer part only requires a text response; tags like <obj>, <box>, <t> are not "
    "needed."
)
MCQ_SYSTEM_PROMPT = (
    _PREAMBLE.format(kind="multiple-choice ")
    + _THINK
    + _GROUNDED
    + "Only output the correct option in the <answer> </answer> section."
)
TEMPORAL_SYSTEM_PROMPT = (
    "A conversation between user and assistant. The user provides a video and asks a "
    "question, and the Assistant determines the precise time period that answers the "
    "question. "
    + _THINK
    + "When mentioning time during the reasoning process, the assistant must use the "
    "format: `<t>time_in_seconds</t>s'.The answer must strictly follow the following "
    "format: `From <t>start_time</t>s to <t>end_time</t>s'."
)
TEMPORAL_MCQ_SYSTEM_PROMPT = (
    "A conversation between user and assistant. The user provides a video and a "
    "multiple-choice question, and the Assistant determines the precise time period that "
    "answers the question and selects the correct option. "
    + _THINK
    + "When mentioning time during the reasoning process, the assistant must use the "
    "format: `<t>time_in_seconds</t>s'. The answer must strictly follow the following "
    "format: `From <t>start_time</t>s to <t>end_time</t>s.\nCorrect Option: "
    "[ONLY THE LETTER]'."
)

SYSTEM_PROMPTS: Mapping[TaskType, str] = {
    TaskType.FREE_FORM: FREE_FORM_SYSTEM_PROMPT,
    TaskType.MCQ: MCQ_SYSTEM_PROMPT,
    TaskType.TEMPORAL: TEMPORAL_SYSTEM_PROMPT,
}

DATASET_TASKS: Mapping[str, TaskType] = {
    "temporal-spatial free-form QA": TaskType.FREE_FORM,
    "General video QA Free-form": TaskType.FREE_FORM,
    "General video QA MCQ": TaskType.MCQ,
    "temporal QA": TaskType.TEMPORAL,
    "temporal QA (MCQ)": TaskType.TEMPORAL,
}
"""STGR record `task` names (SPEC section 5) -> task type (`visual QA` is image-only)."""


def system_prompt(task: TaskType, *, with_options: bool = False) -> str:
    """The system prompt for a task; temporal with options uses the temporal-MCQ form."""
    if task is TaskType.TEMPORAL and with_options:
        return TEMPORAL_MCQ_SYSTEM_PROMPT
    return SYSTEM_PROMPTS[task]


# ---- the verifier's prompt (SPEC section 4.3, verbatim from the released code) -------

SCORER_SYSTEM_PROMPT = "You are a helpful assistant. Only reply with a single digit: 0, 1, or 2."
SCORER_USER_TEMPLATE = (
    "You will be given a video question and a set of cropped images extracted from the "
    "video.\n"
    "Score how related these images are to answering the question.\n\n"
    "Scoring rules:\n"
    "2 = clearly relevant to answering the question\n"
    "1 = might be useful but uncertain\n"
    "0 = not relevant at all\n\n"
    "Only output one of: 0, 1, or 2. No other text.\n"
    "Question: {question}"
)


def build_scorer_prompt(question: str, n_crops: int) -> Prompt:
    """Rubric text, then `n_crops` image slots (the crops, in order)."""
    parts: list[PromptPart] = [TextPart(SCORER_USER_TEMPLATE.format(question=question))]
    parts.extend(ImagePart(i) for i in range(n_crops))
    return Prompt(system=SCORER_SYSTEM_PROMPT, user=tuple(parts), task=TaskType.FREE_FORM)


# ---- task detection and the question ---------------------------------------------------

_OPTION_LINE = re.compile(r"^[ \t]*(?:\(([A-Z])\)|([A-Z])[.)：:])[ \t]*\S", re.MULTILINE)


def option_letters_in(question: str) -> list[str]:
    """Letters of option lines (`A. …`, `(B) …`, `C) …`, `D: …`) found in the question."""
    return [a or b for a, b in _OPTION_LINE.findall(question)]


def detect_task(
    question: str,
    options: Sequence[str] | None = None,
    task: TaskType | str | None = None,
) -> TaskType:
    """Explicit task wins; options given or >= 2 option lines -> MCQ; else free-form."""
    if task is not None and task != "":
        return TaskType(task)
    if options:
        return TaskType.MCQ
    letters = option_letters_in(question)
    if len(letters) >= 2 and letters[:2] == ["A", "B"]:
        return TaskType.MCQ
    return TaskType.FREE_FORM


def option_letter(i: int) -> str:
    """0 -> `A`, 1 -> `B`, ..."""
    return chr(ord("A") + i)


def format_question(question: str, options: Sequence[str] | None = None) -> str:
    """The question, then one `X. option` line per option (options already lettered
    like `A. red` or `(A) red` are kept as written)."""
    text = question.strip()
    if not options:
        return text
    lines = [_lettered(i, opt.strip()) for i, opt in enumerate(options)]
    return text + "\n" + "\n".join(lines)


def _lettered(i: int, option: str) -> str:
    if option_letters_in(option)[:1] == [option_letter(i)]:
        return option
    return f"{option_letter(i)}. {option}"


# ---- the main prompt --------------------------------------------------------------------


def frame_label(i: int, t: float) -> str:
    """`Frame {i} at {t:.1f}s: ` (i counts from 1)."""
    return f"Frame {i} at {t:.1f}s: "


def duration_line(duration: float) -> str:
    return f"The video is in total {int(duration)} seconds."


def build_prompt(
    question: str,
    times: Sequence[float],
    *,
    task: TaskType | None = None,
    options: Sequence[str] | None = None,
    duration: float | None = None,
    add_duration_line: bool = False,
) -> Prompt:
    """System prompt for the task; user turn = labelled frame slots, duration, question."""
    resolved = detect_task(question, options, task)
    with_options = bool(options) or len(option_letters_in(question)) >= 2
    parts: list[PromptPart] = []
    for i, t in enumerate(times):
        parts.append(TextPart(("\n" if i else "") + frame_label(i + 1, t)))
        parts.append(ImagePart(i))
    tail = [format_question(question, options)]
    if add_duration_line and duration is not None:
        tail.insert(0, duration_line(duration))
    parts.append(TextPart(("\n" if times else "") + "\n".join(tail)))
    return Prompt(
        system=system_prompt(resolved, with_options=with_options),
        user=tuple(parts),
        task=resolved,
    )


def build_image_prompt(
    question: str,
    *,
    task: TaskType | None = None,
    options: Sequence[str] | None = None,
) -> Prompt:
    """System prompt for the task; user turn = ONE image slot, then the question.

    No frame label and no time: a still image has none. Rendered for Qwen as
    `<|vision_start|><|image_pad|><|vision_end|>{question}` (the standard image-then-text
    layout of an image question).
    """
    resolved = detect_task(question, options, task)
    with_options = bool(options) or len(option_letters_in(question)) >= 2
    parts: tuple[PromptPart, ...] = (ImagePart(0), TextPart(format_question(question, options)))
    return Prompt(
        system=system_prompt(resolved, with_options=with_options), user=parts, task=resolved
    )


# ---- renderers ----------------------------------------------------------------------------


def to_openai_messages(prompt: Prompt, image_urls: Sequence[str]) -> list[dict[str, Any]]:
    """OpenAI chat messages: system string + one user message of text/image_url parts."""
    _check_images(prompt, len(image_urls))
    content: list[dict[str, Any]] = []
    for part in prompt.user:
        if isinstance(part, TextPart):
            content.append({"type": "text", "text": part.text})
        else:
            content.append({"type": "image_url", "image_url": {"url": image_urls[part.index]}})
    return [
        {"role": "system", "content": prompt.system},
        {"role": "user", "content": content},
    ]


def to_hf_messages(prompt: Prompt) -> list[dict[str, Any]]:
    """Messages for a transformers processor's `apply_chat_template`.

    Images are passed to the processor separately, in slot order (`image_slots`).
    """
    content: list[dict[str, Any]] = [
        {"type": "text", "text": p.text} if isinstance(p, TextPart) else {"type": "image"}
        for p in prompt.user
    ]
    return [
        {"role": "system", "content": [{"type": "text", "text": prompt.system}]},
        {"role": "user", "content": content},
    ]


def image_slots(prompt: Prompt) -> list[int]:
    """Image indices in the order the user content references them."""
    return [p.index for p in prompt.user if isinstance(p, ImagePart)]


def _check_images(prompt: Prompt, n: int) -> None:
    needed = max(image_slots(prompt), default=-1) + 1
    if n < needed:
        raise ValueError(f"prompt has {needed} image slots but {n} images were given")
