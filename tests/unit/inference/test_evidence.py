"""Evidence consolidation: which mentions merge, and what a merged item reports."""

from __future__ import annotations

import pytest

from service.grounding.types import Box, EvidenceItem, FrameSetMeta, ParsedTrace
from service.inference.evidence import merge_evidence

META = FrameSetMeta(times=(0.0, 1.0, 2.0), fed_size=(420, 224), orig_size=(1280, 720),
                    duration=3.0)
CAT: Box = (100.0, 50.0, 200.0, 150.0)
CAT_NUDGED: Box = (110.0, 60.0, 210.0, 160.0)  # IoU with CAT = 0.68
FAR: Box = (300.0, 100.0, 400.0, 200.0)         # IoU with CAT = 0


def ev(name: str, t: float, *boxes: Box) -> EvidenceItem:
    return EvidenceItem(name=name, time=t, boxes=boxes)


def trace(*items: EvidenceItem) -> ParsedTrace:
    return ParsedTrace(raw="", think="t", answer="A", evidence=items)


CASES = [
    # two traces citing the same cat at nearby times: one item, support 2
    ("same-object", [trace(ev("cat", 1.0, CAT)), trace(ev("cat", 1.4, CAT_NUDGED))], [0, 1],
     [("cat", 2)]),
    # same name but 2 s apart (> max_dt 1 s): two items
    ("far-in-time", [trace(ev("cat", 0.0, CAT)), trace(ev("cat", 2.0, CAT))], [0, 1],
     [("cat", 1), ("cat", 1)]),
    # same name and time but boxes that do not overlap: two items
    ("far-in-space", [trace(ev("cat", 1.0, CAT)), trace(ev("cat", 1.0, FAR))], [0, 1],
     [("cat", 1), ("cat", 1)]),
    # different objects at the same place stay apart
    ("different-names", [trace(ev("cat", 1.0, CAT)), trace(ev("dog", 1.0, CAT))], [0, 1],
     [("cat", 1), ("dog", 1)]),
    # names compare by normal form; the most frequent spelling is shown
    ("name-normal-form", [trace(ev("The cat", 1.0, CAT)), trace(ev("cat", 1.0, CAT)),
                          trace(ev("cat", 1.0, CAT))], [0, 1, 2], [("cat", 3)]),
    # only the traces that support the winner contribute
    ("support-only", [trace(ev("cat", 1.0, CAT)), trace(ev("dog", 1.0, FAR))], [1],
     [("dog", 1)]),
    # a trace citing the same object twice counts once in support
    ("distinct-traces", [trace(ev("cat", 1.0, CAT), ev("cat", 1.2, CAT_NUDGED))], [0],
     [("cat", 1)]),
    # several boxes after one <obj> are separate mentions (here: two objects' worth)
    ("multi-box", [trace(ev("cat", 1.0, CAT, FAR)), trace(ev("cat", 1.0, FAR))], [0, 1],
     [("cat", 2), ("cat", 1)]),
    # no evidence at all: nothing to report
    ("empty", [trace(), trace()], [0, 1], []),
]


@pytest.mark.parametrize(("why", "traces", "support", "expected"), CASES,
                         ids=[c[0] for c in CASES])
def test_merge_table(why: str, traces: list[ParsedTrace], support: list[int],
                     expected: list[tuple[str, int]]) -> None:
    merged = merge_evidence(traces, support, META)
    assert [(m.name, m.support) for m in merged] == expected
    for m in merged:
        assert m.support == len(m.traces) and set(m.traces) <= set(support)


def test_median_resists_one_stray_box() -> None:
    # two traces agree exactly, a third is nudged: the median is the agreed box
    traces = [trace(ev("cat", 1.0, CAT)), trace(ev("cat", 1.0, CAT_NUDGED)),
              trace(ev("cat", 1.6, CAT))]
    (m,) = merge_evidence(traces, [0, 1, 2], META)
    assert m.box_fed == CAT and m.time == 1.0 and m.traces == (0, 1, 2)


def test_sorted_by_support_then_time() -> None:
    traces = [trace(ev("dog", 2.0, FAR), ev("cat", 0.5, CAT)),
              trace(ev("dog", 2.0, FAR)), trace(ev("bird", 0.1, FAR))]
    merged = merge_evidence(traces, [0, 1, 2], META)
    assert [(m.name, m.support, m.time) for m in merged] == [
        ("dog", 2, 2.0), ("bird", 1, 0.1), ("cat", 1, 0.5)]


def test_boxes_in_every_system_unrotated() -> None:
    # the bottom-right quarter of the fed frame is the bottom-right quarter of the video
    (m,) = merge_evidence([trace(ev("cat", 1.0, (210.0, 112.0, 420.0, 224.0)))], [0], META)
    assert m.box_orig == pytest.approx((640.0, 360.0, 1280.0, 720.0))
    assert m.box_norm == pytest.approx((0.5, 0.5, 1.0, 1.0))
    assert m.box_display_norm == pytest.approx((0.5, 0.5, 1.0, 1.0))


def test_boxes_in_every_system_rotated_90() -> None:
    # a portrait-coded 720x1280 file shown rotated 90 degrees clockwise (display
    # 1280x720). The right half of the display is the top 640 rows of the coded frame
    # (geometry.py: coded (x, y) -> display (H - y, x)).
    meta = FrameSetMeta(times=(0.0,), fed_size=(420, 224), orig_size=(720, 1280),
                        rotation=90, duration=1.0)
    (m,) = merge_evidence([trace(ev("cat", 0.0, (210.0, 0.0, 420.0, 224.0)))], [0], meta)
    assert m.box_display_norm == pytest.approx((0.5, 0.0, 1.0, 1.0))
    assert m.box_orig == pytest.approx((0.0, 0.0, 720.0, 640.0))
    assert m.box_norm == pytest.approx((0.0, 0.0, 1.0, 0.5))


def test_thresholds_are_configurable() -> None:
    # 2 s apart merges once max_dt allows it; disjoint boxes merge at min_iou 0
    traces = [trace(ev("cat", 0.0, CAT)), trace(ev("cat", 2.0, CAT))]
    assert len(merge_evidence(traces, [0, 1], META, max_dt=2.5)) == 1
    traces = [trace(ev("cat", 1.0, CAT)), trace(ev("cat", 1.0, FAR))]
    assert len(merge_evidence(traces, [0, 1], META, min_iou=0.0)) == 1
