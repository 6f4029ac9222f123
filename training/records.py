"""STGR record schema: one validated record of `STGR-SFT.json` / `STGR-RL.json` (SPEC 5).

Owns: field names, types and the checks a record must pass before any video is opened,
plus `load_records`, which reads a file and reports every bad record by its position,
its `id` and the offending field.

Invariants:
- Boxes in `key_items` are normalized `[x1, y1, x2, y2]` in [0, 1] with x1 <= x2 and
  y1 <= y2 (a small tolerance is clipped, never silently accepted beyond it).
- Every `key_items` key names the `idx` of one of the record's `key_frames`; null
  entries (present in the released data) are dropped, as the released code does.
- Video tasks have a `video_path`; `visual QA` has an `image_path`.
- `reasoning_process` is required in SFT files and ignored in RL files.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from service.grounding.prompt import DATASET_TASKS

Task = Literal[
    "visual QA",
    "temporal-spatial free-form QA",
    "temporal QA",
    "temporal QA (MCQ)",
    "General video QA MCQ",
    "General video QA Free-form",
]
TASKS: tuple[str, ...] = get_args(Task)
VIDEO_TASKS = frozenset(DATASET_TASKS)  # the contract's table: video task -> task type
TEMPORAL_TASKS = frozenset({"temporal QA", "temporal QA (MCQ)"})
MCQ_TASKS = frozenset({"General video QA MCQ", "temporal QA (MCQ)"})
GROUNDED_TASKS = frozenset({"temporal-spatial free-form QA"})
"""Tasks whose key frames are annotated with boxes (key_items)."""

_TOLERANCE = 1e-3
NormBox = tuple[float, float, float, float]
RecordKind = Literal["sft", "rl"]


class KeyFrame(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    idx: int = Field(ge=0)              # frame index in the video
    time: float = Field(ge=0)           # seconds from the start
    path: str | None = None             # released data: an extracted JPEG of that frame


class STGRRecord(BaseModel):
    """One record. Unknown extra fields are kept out (extra="ignore")."""

    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str
    task: Task
    source: str = ""
    question: str = Field(min_length=1)
    answer: str
    video_path: str | None = None
    image_path: str | None = None
    image_size: tuple[int, int] | None = None
    key_frames: tuple[KeyFrame, ...] = ()
    key_items: dict[str, dict[str, tuple[NormBox, ...]]] = Field(default_factory=dict)
    reasoning_process: str | None = None

    @field_validator("id", mode="before")
    @classmethod
    def _id_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) else value

    @field_validator("answer", mode="before")
    @classmethod
    def _answer_as_text(cls, value: Any) -> Any:
        # Temporal answers appear as [s, e] lists in some dumps; keep their text form.
        return json.dumps(value) if isinstance(value, list | int | float) else value

    @field_validator("key_items", mode="before")
    @classmethod
    def _drop_nulls(cls, value: Any) -> Any:
        if not isinstance(value, dict):
            return value
        cleaned = {}
        for key, objs in value.items():
            if isinstance(objs, dict):
                cleaned[str(key)] = {name: box for name, box in objs.items() if box is not None}
            elif objs is not None:
                cleaned[str(key)] = objs
        return cleaned

    @field_validator("key_items")
    @classmethod
    def _boxes_normalized(
        cls, value: dict[str, dict[str, tuple[NormBox, ...]]]
    ) -> dict[str, dict[str, tuple[NormBox, ...]]]:
        return {k: {n: tuple(_check_box(b, f"{k}/{n}") for b in bs) for n, bs in objs.items()}
                for k, objs in value.items()}

    @model_validator(mode="after")
    def _consistent(self) -> STGRRecord:
        if self.task in VIDEO_TASKS and not self.video_path:
            raise ValueError(f"task {self.task!r} needs video_path")
        if self.task == "visual QA" and not self.image_path:
            raise ValueError("task 'visual QA' needs image_path")
        known = {str(kf.idx) for kf in self.key_frames}
        missing = sorted(set(self.key_items) - known)
        if missing:
            raise ValueError(f"key_items keys {missing} match no key_frames idx {sorted(known)}")
        return self

    @property
    def is_video(self) -> bool:
        return self.task in VIDEO_TASKS

    @property
    def key_times(self) -> tuple[float, ...]:
        return tuple(kf.time for kf in self.key_frames)


def _check_box(box: NormBox, where: str) -> NormBox:
    x1, y1, x2, y2 = box
    if min(box) < -_TOLERANCE or max(box) > 1 + _TOLERANCE:
        raise ValueError(f"box {list(box)} at key_items[{where}] is not normalized to [0, 1]")
    if x1 > x2 or y1 > y2:
        raise ValueError(f"box {list(box)} at key_items[{where}] has x1 > x2 or y1 > y2")
    return (_unit(x1), _unit(y1), _unit(x2), _unit(y2))


def _unit(v: float) -> float:
    return min(1.0, max(0.0, v))


class RecordError(ValueError):
    """A record failed validation; the message names file, position, id and field."""


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err["loc"]) or "record"
        parts.append(f"{loc}: {err['msg']}")
    return "; ".join(parts)


def validate_record(raw: object, *, kind: RecordKind, where: str = "") -> STGRRecord:
    """Validate one raw record; raise RecordError naming `where`, its id and the field."""
    rid = raw.get("id", "?") if isinstance(raw, dict) else "?"
    try:
        record = STGRRecord.model_validate(raw)
    except ValidationError as exc:
        raise RecordError(f"{where} (id={rid}): {_describe(exc)}") from exc
    if kind == "sft" and not record.reasoning_process:
        raise RecordError(f"{where} (id={rid}): reasoning_process: required in SFT records")
    return record


def load_records(
    path: str | Path, *, kind: RecordKind, limit: int | None = None
) -> list[STGRRecord]:
    """Read an STGR JSON list (or JSON lines) file; every record validated."""
    path = Path(path)
    text = path.read_text()
    try:
        raw = json.loads(text)
    except json.JSONDecodeError:
        raw = [json.loads(line) for line in text.splitlines() if line.strip()]
    if not isinstance(raw, list):
        raise RecordError(f"{path}: expected a JSON list of records, got {type(raw).__name__}")
    raw = raw[:limit] if limit else raw
    return [validate_record(r, kind=kind, where=f"{path.name}[{i}]") for i, r in enumerate(raw)]
