"""The box answer of an image question (STGR `visual QA`): `<obj>name</obj><box>[..]</box>`.

Owns reading that answer (the release's image system prompt asks for exactly it) into a
name and a box in fed-image pixels. Model text is untrusted: `read_answer_box` never
raises; anything it cannot read is None.

Rules: the first `<obj>` ... `</obj>` followed (whitespace allowed) by a `<box>` with
four finite numbers, brackets optional; corners swapped into order; clipped to the fed
image, None when nothing is left. No `<obj>` but a box: the name is "".

Invariants: pure; linear-time regexes only.
"""

from __future__ import annotations

import math
import re

from service.grounding.geometry import clip_box
from service.grounding.grammar import NUMBER
from service.grounding.types import Box, Size

_OBJ_BOX = re.compile(r"(?:<obj>\s*([^<]{0,200}?)\s*</obj>\s*)?<box>([^<]{0,200})</box>",
                      re.IGNORECASE)


def read_answer_box(answer: str | None, fed_size: Size) -> tuple[str, Box] | None:
    if not answer:
        return None
    m = _OBJ_BOX.search(answer)
    if m is None:
        return None
    nums = [float(n) for n in NUMBER.findall(m.group(2))]
    if len(nums) != 4 or not all(math.isfinite(v) for v in nums):
        return None
    x1, y1, x2, y2 = nums
    box = clip_box((min(x1, x2), min(y1, y2), max(x1, x2), max(y1, y2)), fed_size)
    return None if box is None else ((m.group(1) or "").strip(), box)
