"""Evidence consolidation: many traces' mentions -> a few merged evidence items.

`merge_evidence(traces, support, meta)` takes the traces that voted for the winning
answer and merges their evidence mentions (one mention per cited box) that name the
same object at nearby times with overlapping boxes.

Rules (deterministic, pure):
- Object identity: `normalize_answer` of the name ("The man" == "man"); the item is
  shown under the most frequent raw spelling (ties: first seen).
- Mentions are visited in trace order, then mention order. A mention joins the
  cluster with the same name whose seed (first mention) is within `max_dt` seconds
  and whose seed box has IoU >= `min_iou` with it (best IoU wins, earliest on ties);
  otherwise it seeds a new cluster. Comparing against the seed, not a moving mean,
  keeps the result independent of later members.
- A merged item's time and box are per-coordinate MEDIANS of its members (robust to
  one trace citing a stray box); `support` is the number of distinct traces in it.
- Boxes are reported in fed pixels, original coded-frame pixels (via
  `geometry.fed_to_original`, rotation undone), normalized to the original size,
  and normalized in display orientation (the fed frames are display-oriented, so
  that is the fed box over the fed size).
- Output order: support descending, then time, then name.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from statistics import median

from service.grounding.geometry import box_iou, fed_to_original, normalize_box
from service.grounding.normalize import normalize_answer
from service.grounding.types import Box, FrameSetMeta, ParsedTrace
from service.inference.types import MergedEvidence

DEFAULT_MAX_DT = 1.0
DEFAULT_MIN_IOU = 0.3


@dataclass(frozen=True)
class _Mention:
    trace: int
    key: str
    name: str
    time: float
    box: Box


@dataclass
class _Cluster:
    seed: _Mention
    members: list[_Mention] = field(default_factory=list)


def merge_evidence(
    traces: Sequence[ParsedTrace],
    support: Sequence[int],
    meta: FrameSetMeta,
    *,
    max_dt: float = DEFAULT_MAX_DT,
    min_iou: float = DEFAULT_MIN_IOU,
) -> tuple[MergedEvidence, ...]:
    """Merge the evidence of `traces[i] for i in support`; see the module docstring."""
    clusters: list[_Cluster] = []
    for mention in _mentions(traces, support):
        home = _home(clusters, mention, max_dt, min_iou)
        if home is None:
            home = _Cluster(mention)
            clusters.append(home)
        home.members.append(mention)
    items = [_merged(c, meta) for c in clusters]
    return tuple(sorted(items, key=lambda e: (-e.support, e.time, e.name)))


def _mentions(traces: Sequence[ParsedTrace], support: Sequence[int]) -> list[_Mention]:
    out: list[_Mention] = []
    for i in sorted(set(support)):
        for item in traces[i].evidence:
            key = normalize_answer(item.name)
            out.extend(_Mention(i, key, item.name.strip(), item.time, b) for b in item.boxes)
    return out


def _home(
    clusters: Sequence[_Cluster], m: _Mention, max_dt: float, min_iou: float
) -> _Cluster | None:
    best: _Cluster | None = None
    best_iou = -1.0
    for c in clusters:
        if c.seed.key != m.key or abs(c.seed.time - m.time) > max_dt:
            continue
        iou = box_iou(c.seed.box, m.box)
        if iou >= min_iou and iou > best_iou:
            best, best_iou = c, iou
    return best


def _merged(c: _Cluster, meta: FrameSetMeta) -> MergedEvidence:
    ms = c.members
    box: Box = (
        median(m.box[0] for m in ms),
        median(m.box[1] for m in ms),
        median(m.box[2] for m in ms),
        median(m.box[3] for m in ms),
    )
    orig = fed_to_original(box, meta)
    traces = tuple(sorted({m.trace for m in ms}))
    return MergedEvidence(
        name=_display_name(ms),
        time=median(m.time for m in ms),
        box_fed=box,
        box_orig=orig,
        box_norm=normalize_box(orig, meta.orig_size),
        box_display_norm=normalize_box(box, meta.fed_size),
        support=len(traces),
        traces=traces,
    )


def _display_name(ms: Sequence[_Mention]) -> str:
    counts = Counter(m.name for m in ms)
    top = max(counts.values())
    return next(m.name for m in ms if counts[m.name] == top)
