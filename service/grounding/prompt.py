"""The ONE prompt builder (SPEC sections 1-2, 4.3, 6), shared by the service and training.

It owns: the system prompts (verbatim from the released training code), the frame
label, task detection, the layout of every protocol (`protocols.Protocol`), and the
two renderers of the neutral `Prompt` structure.

User turn layout under the serving default `rl` (the RL stage's format; for a Qwen chat
template, where each image slot renders as `<|vision_start|><|image_pad|><|vision_end|>`):

    Frame 1 at 0.0s: <image>
    Frame 2 at 2.1s: <image>
    The video is in total 33 seconds.      (every video task)
    {question}
    A. ...                                 (MCQ options, when given separately)

i.e. the newline that ends a frame line sits at the START of the next text part,
right after the image. Consecutive text is always merged into one `TextPart`, so the
user content strictly alternates text / image, and both renderers (OpenAI
`image_url` parts, transformers `{"type": "image"}` entries) render to the same
token text under the Qwen2.5-VL template, which concatenates content parts with no
separator.

Other protocols (`PromptSpec.protocol`), each equal to the release's own text (golden
tables in tests/golden/): `released` (RL trainer: `index / sample_fps` labels, key frames
in whole seconds), `sft` (SFT collator: `at {t}:` labels outside grounded QA,
`Question: ` prefix, no duration line for grounded QA, shorter system prompts),
`vstar-*` (the V-STAR script: `You are a helpful assistant.`, one user text per chain
step) and `mcq-video` (VideoMME loader text, no frame labels). Per-request overrides
(`system`, `instruction`, `preamble`) and subtitles apply to every protocol.

Task detection (`detect_task`): an explicit task always wins; otherwise options
passed separately, or at least two option lines (`A. ...`, `(B) ...`, `C) ...`) in the
question, mean MCQ; everything else is free-form. Temporal grounding is NEVER
guessed from wording ("when does ..." is also an ordinary free-form question the
model answers with evidence); a client asks for it explicitly.

Image prompts (`build_image_prompt`, the STGR `visual QA` records and image requests):
one image slot, then the question, no frame label and no duration line; the system
prompt is the release's IMAGE prompt in every protocol (answer = `<obj>..</obj><box>..`).

Invariants: `ImagePart.index` values run 0..n-1 in order; label `i` starts at 1; `rl`
labels round the true time to one decimal.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from service.grounding.protocols import (
    HELPFUL_SYSTEM_PROMPT,
    IMAGE_SYSTEM_PROMPT,
    NEEDS_INSTRUCTION,
    SFT_GROUNDED_TASK,
    SFT_IMAGE_SYSTEM_PROMPT,
    SFT_QUESTION_PREFIX,
    SFT_SYSTEM_PROMPTS,
    TRAINING_PROTOCOLS,
    Protocol,
    mcq_video_text,
    vstar_what_text,
    vstar_when_preamble,
    vstar_when_text,
    with_transcript,
)
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


class PromptError(ValueError):
    """A protocol cannot build this prompt (a missing override, a task the stage lacks)."""


@dataclass(frozen=True)
class PromptSpec:
    """How to build a prompt beyond the question: the protocol and its inputs.

    - `system` replaces the system prompt; `instruction` replaces the text after the
      frames (the question block); `preamble` is text before the frames.
    - `subtitles`: transcript text (lines already chosen for the frames) placed before
      the question block with the release's wrapper (`protocols.with_transcript`).
    - `dataset_task`: an STGR task name; picks the released format of that task
      (training); None: derived from the task type.
    - `key_frames`: positions in `times` that are annotated key frames (labels differ
      under `released` and `sft`).
    - `sample_fps`: under `released` / `sft`, the release's `index / sample_fps` label
      arithmetic (and duration `int(n / sample_fps)`); None: the given times.
    """

    protocol: Protocol = Protocol.RL
    system: str | None = None
    instruction: str | None = None
    preamble: str | None = None
    subtitles: str | None = None
    dataset_task: str | None = None
    key_frames: frozenset[int] = frozenset()
    sample_fps: float | None = None


DEFAULT_SPEC = PromptSpec()


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
    add_duration_line: bool | None = None,
    spec: PromptSpec = DEFAULT_SPEC,
) -> Prompt:
    """System prompt + user turn (labelled frame slots, duration, question) for a protocol.

    `add_duration_line` None: the protocol's rule (`rl`/`released`: every video task;
    `sft`: all but grounded free-form; benchmarks: never).
    """
    resolved = detect_task(question, options, task)
    with_options = bool(options) or len(option_letters_in(question)) >= 2
    p = spec.protocol
    if p in TRAINING_PROTOCOLS:
        dtask = spec.dataset_task or default_dataset_task(resolved, with_options)
        system = _training_system(p, resolved, with_options, dtask)
        pieces = _training_user(question, options, times, duration, add_duration_line, dtask, spec)
    elif p is Protocol.MCQ_VIDEO:
        system = HELPFUL_SYSTEM_PROMPT
        pieces = _mcq_user(question, options, len(times), spec)
    else:
        system = HELPFUL_SYSTEM_PROMPT
        pieces = _vstar_user(question, times, duration, spec)
    return Prompt(system=spec.system if spec.system is not None else system,
                  user=_merge(pieces), task=resolved)


def default_dataset_task(task: TaskType, with_options: bool) -> str:
    """The STGR task whose format a served task uses under `released` / `sft`."""
    if task is TaskType.TEMPORAL:
        return "temporal QA (MCQ)" if with_options else "temporal QA"
    return "General video QA MCQ" if task is TaskType.MCQ else SFT_GROUNDED_TASK


def _training_system(p: Protocol, task: TaskType, with_options: bool, dtask: str) -> str:
    if p is not Protocol.SFT:
        return system_prompt(DATASET_TASKS.get(dtask, task), with_options=with_options
                             or dtask == "temporal QA (MCQ)")
    if dtask not in SFT_SYSTEM_PROMPTS:
        raise PromptError(f"the SFT stage has no format for task {dtask!r}")
    return SFT_SYSTEM_PROMPTS[dtask]


_Piece = str | ImagePart


def _training_user(
    question: str, options: Sequence[str] | None, times: Sequence[float],
    duration: float | None, add_duration_line: bool | None, dtask: str, spec: PromptSpec,
) -> list[_Piece]:
    p = spec.protocol
    grounded_sft = p is Protocol.SFT and dtask == SFT_GROUNDED_TASK
    pieces: list[_Piece] = [spec.preamble] if spec.preamble else []
    labels = _training_labels(times, spec, with_s=not (p is Protocol.SFT and not grounded_sft))
    for k, label in enumerate(labels):
        pieces += [label, ImagePart(k), "\n"]
    wants_line = not grounded_sft if add_duration_line is None else add_duration_line
    if wants_line and times:
        seconds = _released_duration(times, duration, spec)
        if seconds is not None:
            pieces.append(duration_line(seconds) + "\n")
    if spec.instruction is not None:
        text = spec.instruction
    elif p is Protocol.RL:
        text = format_question(question, options)
    else:
        prefix = "" if dtask == SFT_GROUNDED_TASK or p is Protocol.RELEASED else SFT_QUESTION_PREFIX
        text = prefix + _raw_question(question, options)
    pieces.append(text if spec.subtitles is None else with_transcript(text, spec.subtitles))
    return pieces


def _training_labels(times: Sequence[float], spec: PromptSpec, *, with_s: bool) -> list[str]:
    """Frame labels: ours (`rl`: true times, one decimal) or the release's arithmetic."""
    if spec.protocol is Protocol.RL:
        return [frame_label(k + 1, t) for k, t in enumerate(times)]
    unit, labels, uniform = ("s" if with_s else ""), [], 0
    for k, t in enumerate(times):
        if k in spec.key_frames:  # RL trainer: whole seconds; SFT: the annotated value
            value = str(round(t)) if spec.protocol is Protocol.RELEASED else str(t)
        else:
            value = str(round(uniform / spec.sample_fps if spec.sample_fps else t, 1))
            uniform += 1
        labels.append(f"Frame {k + 1} at {value}{unit}: ")
    return labels


def _released_duration(
    times: Sequence[float], duration: float | None, spec: PromptSpec
) -> float | None:
    if spec.protocol is not Protocol.RL and spec.sample_fps:
        return (len(times) - len(spec.key_frames)) / spec.sample_fps
    return duration


def _raw_question(question: str, options: Sequence[str] | None) -> str:
    """The question as the release sends it: unstripped, options on their own lines."""
    if not options:
        return question
    return question + "\n" + "\n".join(_lettered(i, o.strip()) for i, o in enumerate(options))


def _mcq_user(
    question: str, options: Sequence[str] | None, n_frames: int, spec: PromptSpec
) -> list[_Piece]:
    pieces: list[_Piece] = [spec.preamble] if spec.preamble else []
    pieces += [ImagePart(k) for k in range(n_frames)]
    lettered = [_lettered(i, o.strip()) for i, o in enumerate(options or ())]
    text = spec.instruction if spec.instruction is not None else mcq_video_text(question, lettered)
    pieces.append(text if spec.subtitles is None else with_transcript(text, spec.subtitles))
    return pieces


def _vstar_user(
    question: str, times: Sequence[float], duration: float | None, spec: PromptSpec
) -> list[_Piece]:
    p = spec.protocol
    if p in NEEDS_INSTRUCTION and spec.instruction is None:
        raise PromptError(f"protocol {p} needs `instruction` (its text uses annotation data)")
    if p is Protocol.VSTAR_WHEN_CHAIN2 and spec.preamble is None:
        raise PromptError(f"protocol {p} needs `preamble` (the video's length and resolution)")
    preamble = spec.preamble
    if preamble is None and p is Protocol.VSTAR_WHEN:
        preamble = vstar_when_preamble(round(duration or 0.0, 2))
    pieces: list[_Piece] = [preamble] if preamble else []
    for k, t in enumerate(times):
        pieces += [f"Frame {k + 1} at {round(t, 1)}s: ", ImagePart(k), "\n"]
    if p is not Protocol.VSTAR_WHAT:
        pieces.append("\n")  # the script's placeholder is followed by a newline
    if spec.instruction is not None:
        text = spec.instruction
    else:
        text = vstar_what_text(question) if p is Protocol.VSTAR_WHAT else vstar_when_text(question)
    pieces.append(text if spec.subtitles is None else with_transcript(text, spec.subtitles))
    return pieces


def _merge(pieces: Sequence[_Piece]) -> tuple[PromptPart, ...]:
    """Consecutive strings -> one TextPart (empty text dropped); image slots kept."""
    out: list[PromptPart] = []
    buf = ""
    for piece in pieces:
        if isinstance(piece, str):
            buf += piece
            continue
        if buf:
            out.append(TextPart(buf))
            buf = ""
        out.append(piece)
    if buf or not out:
        out.append(TextPart(buf))
    return tuple(out)


def build_image_prompt(
    question: str,
    *,
    task: TaskType | None = None,
    options: Sequence[str] | None = None,
    spec: PromptSpec = DEFAULT_SPEC,
) -> Prompt:
    """The image prompt (STGR `visual QA`): ONE image slot, then the question.

    Every protocol uses the release's image system prompt (the SFT stage's under `sft`),
    whose answer is `<obj>name</obj><box>[x1,y1,x2,y2]</box>`; no frame label, no time.
    Rendered for Qwen as `<|vision_start|><|image_pad|><|vision_end|>{question}`.
    """
    resolved = detect_task(question, options, task)
    if spec.instruction is not None:
        text = spec.instruction
    elif spec.protocol is Protocol.RL:
        text = format_question(question, options)
    else:
        text = _raw_question(question, options)
    system = SFT_IMAGE_SYSTEM_PROMPT if spec.protocol is Protocol.SFT else IMAGE_SYSTEM_PROMPT
    return Prompt(system=spec.system if spec.system is not None else system,
                  user=(ImagePart(0), TextPart(text)), task=resolved)


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
