"""A scanned chunk's relevance, from what the model cited (SPEC section 3 grammar).

Owns `chunk_score`. Pure.

Rule: a trace supports a chunk when it is votable and cites at least one evidence item
with a box at a time inside the chunk (within `tol` seconds of its bounds). The chunk's
score is the mean over ALL its traces of weight x support, where weight is the
verifier's relevance when verification ran (its 0/1/2 score / 2; the scan passes 0.5
for an unreadable reply), else 1: so a chunk in which the model saw nothing scores 0,
and so does one whose cited crops the verifier rejects (NOT the voting weight 0.2,
which would make every hallucinated citation a candidate window). `cited` is the
cited times of the supporting traces with the highest weight (where the zoom looks).
"""

from __future__ import annotations

from collections.abc import Sequence

from service.grounding.types import ParsedTrace


def chunk_score(
    start: float, end: float, traces: Sequence[ParsedTrace],
    weights: Sequence[float] | None = None, tol: float = 0.5,
) -> tuple[float, tuple[float, ...]]:
    """(score in [0, 1], sorted cited times of the best supporting traces)."""
    if not traces:
        return 0.0, ()
    ws = list(weights) if weights is not None else [1.0] * len(traces)
    total = 0.0
    best_w, best_times = 0.0, set()
    for trace, w in zip(traces, ws, strict=True):
        times = _inside(trace, start - tol, end + tol) if trace.votable else []
        if not times or w <= 0:
            continue
        total += w
        if w > best_w + 1e-9:
            best_w, best_times = w, set(times)
        elif abs(w - best_w) <= 1e-9:
            best_times.update(times)
    return min(1.0, total / len(traces)), tuple(sorted(best_times))


def _inside(trace: ParsedTrace, lo: float, hi: float) -> list[float]:
    return [e.time for e in trace.evidence if e.boxes and lo <= e.time <= hi]
