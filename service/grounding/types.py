"""Shared value types of the grounded-trace core.

Everything that crosses a module boundary in the pipeline is one of these: the
video sampler produces `FrameSetMeta`, the prompt builder produces a `Prompt`, the
parser produces `ParsedTrace` made of `EvidenceItem`s, and voting consumes them.

Invariants:
- Boxes are `(x1, y1, x2, y2)` floats with x1 <= x2 and y1 <= y2 once parsed; the
  coordinate system is named by whoever holds them (fed-frame pixels unless a field
  name says otherwise).
- Sizes are `(width, height)` in pixels.
- Times are float seconds from the start of the video.
- Everything here is immutable and pure-Python (no numpy, PIL, torch or av), so
  training/ and clients/ can import it cheaply.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

Box = tuple[float, float, float, float]
"""An axis-aligned box `(x1, y1, x2, y2)`."""

Size = tuple[int, int]
"""A `(width, height)` pair in pixels."""


class TaskType(StrEnum):
    """Which system prompt and answer grammar a request uses (SPEC section 2)."""

    FREE_FORM = "free-form"
    MCQ = "mcq"
    TEMPORAL = "temporal"


@dataclass(frozen=True)
class Defect:
    """Something the parser fixed or dropped while reading model text.

    `code` is a stable machine-readable identifier (e.g. `missing_think_close`,
    `box_swapped_corners`, `box_clipped`, `time_past_end`); `detail` is for humans.
    """

    code: str
    detail: str = ""


@dataclass(frozen=True)
class EvidenceItem:
    """One evidence mention: `<obj>name</obj><box>[..]</box>...at<t>time</t>s`."""

    name: str
    time: float
    boxes: tuple[Box, ...]


@dataclass(frozen=True)
class ParsedTrace:
    """What the parser could read from one completion. Never raised, always returned.

    - `answer` is the answer text as the voter should compare it: the option letter
      for multiple choice (`"C"`), the stripped text for free-form, the raw
      `From ... to ...` text for temporal answers (whose numbers are in `span`).
    - `span` is the `(start, end)` seconds of a temporal answer, else None.
    - `evidence` boxes are in fed-frame pixels, clipped to the fed frame.
    """

    raw: str
    think: str | None
    answer: str | None
    evidence: tuple[EvidenceItem, ...] = ()
    defects: tuple[Defect, ...] = ()
    span: tuple[float, float] | None = None

    @property
    def has_answer(self) -> bool:
        return self.answer is not None and self.answer != ""

    @property
    def votable(self) -> bool:
        """SPEC section 4.2: no parsable answer or no think section -> weight 0."""
        return self.has_answer and self.think is not None


@dataclass(frozen=True)
class FrameSetMeta:
    """Where the frames fed to the model came from.

    - `times`: each fed frame's timestamp (seconds, from its decoded pts).
    - `fed_size`: the size of every frame as fed to the model (after rotation and
      resize; both sides multiples of 28).
    - `orig_size`: the stored (coded) size of the video's frames, before rotation.
    - `rotation`: degrees clockwise (0, 90, 180, 270) the player rotates the coded
      frame for display; the fed frames are already in display orientation.
    - `duration`: the video's duration in seconds.
    - `still`: the frame is a still image (one frame, no time): it gets the image prompt.
    """

    times: tuple[float, ...]
    fed_size: Size
    orig_size: Size
    rotation: int = 0
    duration: float = 0.0
    frame_indices: tuple[int, ...] = field(default=())
    still: bool = False

    @property
    def display_size(self) -> Size:
        """Original size in display orientation (width and height swapped at 90/270)."""
        w, h = self.orig_size
        return (h, w) if self.rotation % 180 == 90 else (w, h)


# ---- the neutral prompt structure -------------------------------------------------


@dataclass(frozen=True)
class TextPart:
    text: str


@dataclass(frozen=True)
class ImagePart:
    """An image slot; `index` points into the image list sent with the prompt."""

    index: int


PromptPart = TextPart | ImagePart


@dataclass(frozen=True)
class Prompt:
    """One system message and one user message made of text and image slots.

    Both an OpenAI chat request (image slots -> `image_url` parts) and a transformers
    processor call (image slots -> `{"type": "image"}` entries) are rendered from it
    by `service.grounding.prompt`.
    """

    system: str
    user: tuple[PromptPart, ...]
    task: TaskType = TaskType.FREE_FORM

    @property
    def image_count(self) -> int:
        return sum(1 for p in self.user if isinstance(p, ImagePart))
