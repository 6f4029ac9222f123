"""Reading benchmark predictions out of the gateway's answers.

- Spans: the service's voted `span` (its parser read `From <t>s</t>s to <t>e</t>s`);
  otherwise the answer text when it holds exactly two numbers (the V-STaR
  reference's rule); otherwise no span (scores 0).
- Boxes per second (V-STAR "where"), from one of two sources:
  * `answer`: the answer text's JSON object `{"second": [x1, y1, x2, y2], ...}` (also
    a list of one-key objects, single quotes, a ```json fence, a missing closing
    bracket). Its boxes are in the pixels of the frames AS FED to the model, so they
    are scaled to the original video by `original_size / fed_size` (a rotated video
    would also need the rotation undone: not done, V-STaR videos are unrotated).
    Keys are kept as the model wrote them, as the reference does.
  * `evidence`: the response's evidence items (already in original pixels, rotation
    undone by the service), keyed by the whole second `str(round(time))`, several
    boxes for one second kept as a list (the metric takes the best).
  `auto` (default) uses the answer's boxes when it has any, else the evidence.
Never raises on model text.
"""

from __future__ import annotations

import json
import re
from typing import Any, Literal

from clients.sdk import ReasonResult

BoxSource = Literal["auto", "answer", "evidence"]
_NUMBER = re.compile(r"\b\d+(?:\.\d+)?\b")
_FENCE = re.compile(r"```(?:json)?\s*(.*?)```", re.DOTALL)
_OBJECT = re.compile(r"[\[{].*[\]}]|\{.*", re.DOTALL)


def span_of(result: ReasonResult) -> list[float]:
    if result.span is not None and len(result.span) == 2:
        return [float(result.span[0]), float(result.span[1])]
    return span_from_text(result.answer or "")


def span_from_text(text: str) -> list[float]:
    numbers = _NUMBER.findall(text)
    return [float(numbers[0]), float(numbers[1])] if len(numbers) == 2 else []


def boxes_of(result: ReasonResult, source: BoxSource = "auto") -> tuple[dict[str, Any], str]:
    """(boxes per second key, the source used)."""
    if source in ("auto", "answer"):
        found = answer_boxes(result)
        if found or source == "answer":
            return found, "answer"
    return evidence_boxes(result), "evidence"


def evidence_boxes(result: ReasonResult) -> dict[str, Any]:
    out: dict[str, list[list[float]]] = {}
    for e in result.evidence:
        out.setdefault(str(round(e.time)), []).append([float(v) for v in e.box])
    return {k: v[0] if len(v) == 1 else v for k, v in out.items()}


def answer_boxes(result: ReasonResult) -> dict[str, Any]:
    parsed = parse_box_json(result.answer or "")
    fed, orig = result.frames.fed_size, result.frames.original_size
    if len(fed) != 2 or len(orig) != 2 or not fed[0] or not fed[1]:
        return parsed
    sx, sy = orig[0] / fed[0], orig[1] / fed[1]
    return {k: _scale(v, sx, sy) for k, v in parsed.items()}


def parse_box_json(text: str) -> dict[str, Any]:
    """The `{second: box}` object in a model's answer; {} when there is none."""
    fence = _FENCE.search(text)
    body = (fence.group(1) if fence else text).replace("'", '"')
    match = _OBJECT.search(body)
    if not match:
        return {}
    tail = body[match.start():].strip()
    # a torn answer first (brackets closed at the end), then the outermost brackets
    for candidate in (_close_brackets(tail), match.group(0), _close_brackets(match.group(0))):
        try:
            value = json.loads(candidate)
        except (json.JSONDecodeError, RecursionError):
            continue
        return _as_mapping(value)
    return {}


def _as_mapping(value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        return {str(k): v for k, v in value.items()}
    if isinstance(value, list) and value and all(isinstance(x, dict) for x in value):
        merged: dict[str, Any] = {}
        for x in value:
            merged.update({str(k): v for k, v in x.items()})
        return merged
    return {}


def _close_brackets(text: str) -> str:
    return text + "]" * max(0, text.count("[") - text.count("]")) + "}" * max(
        0, text.count("{") - text.count("}"))


def _scale(value: Any, sx: float, sy: float) -> Any:
    """Scale a box or a list of boxes; anything malformed is left for the metric."""
    if isinstance(value, list) and len(value) == 4 and all(_num(v) for v in value):
        return [value[0] * sx, value[1] * sy, value[2] * sx, value[3] * sy]
    if isinstance(value, list) and value and all(isinstance(v, list) for v in value):
        return [_scale(v, sx, sy) for v in value]
    return value


def _num(v: Any) -> bool:
    return isinstance(v, int | float) and not isinstance(v, bool)
