"""Table tests of a chunk's score from its parsed traces (search.score)."""

from __future__ import annotations

import pytest

from service.grounding.types import EvidenceItem, ParsedTrace
from service.inference.search.score import chunk_score


def T(*cites, votable=True):
    """A trace citing (time, has_box) pairs."""
    ev = tuple(EvidenceItem("red circle", t, ((1, 1, 5, 5),) if box else ()) for t, box in cites)
    return ParsedTrace("", "think" if votable else None, "ans", ev)


@pytest.mark.parametrize(("traces", "weights", "want", "cited"), [
    ([], None, 0.0, ()),                                  # nothing asked: 0
    ([T()], None, 0.0, ()),                               # saw nothing: 0
    ([T((12.0, True))], None, 1.0, (12.0,)),              # one trace, cited inside
    ([T((12.0, True)), T()], None, 0.5, (12.0,)),         # half the traces
    ([T((12.0, False))], None, 0.0, ()),                  # a time without a box: no support
    ([T((50.0, True))], None, 0.0, ()),                   # cited outside the chunk
    ([T((10.4, True))], None, 1.0, (10.4,)),              # within tol of the bound
    ([T((12.0, True), votable=False)], None, 0.0, ()),    # unvotable traces never count
    # verifier relevance: a rejected crop (0) adds nothing, and the cited times are
    # the best-weighted trace's
    ([T((12.0, True)), T((15.0, True))], [0.0, 1.0], 0.5, (15.0,)),
    ([T((12.0, True)), T((15.0, True))], [0.0, 0.0], 0.0, ()),
    ([T((12.0, True)), T((15.0, True))], [1.0, 1.0], 1.0, (12.0, 15.0)),
])
def test_chunk_score(traces, weights, want, cited):
    score, times = chunk_score(10.0, 20.0, traces, weights)
    assert score == pytest.approx(want)
    assert times == cited


@pytest.mark.parametrize(("score", "want"), [(2.0, 1.0), (1.0, 0.5), (0.0, 0.0), (None, 0.5)])
def test_verifier_score_as_relevance(score, want):
    from service.inference.search.scan import relevance
    from service.inference.verifier import TraceVerification

    assert relevance(TraceVerification(0.2, score)) == want
