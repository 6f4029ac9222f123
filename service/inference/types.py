"""Value types of the inference pipeline: its options in, its verdict out.

The gateway turns a `Verdict` into its wire format; clients and the benchmark
harness read that format. Boxes in `MergedEvidence` are given in three systems:
fed-frame pixels (what the model saw), original coded-frame pixels (rotation undone,
SPEC section 3) and normalized [0, 1] of the original coded frame; plus normalized in
display orientation, which is what a video player shows.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from service.grounding.prompt import DEFAULT_SPEC, PromptSpec
from service.grounding.subtitles import Cue
from service.grounding.types import Box, ParsedTrace, TaskType
from service.grounding.voting import VoteRow, VotingMode
from service.inference.backend import SamplingParams, Usage


class WeightMode(StrEnum):
    CODE = "code"    # released code: 2 -> 1.0, 1 -> 0.6, else 0.2; no evidence -> 0.2
    PAPER = "paper"  # paper text: mean of per-object 0/1/2 scores
    RELEASED = "released"  # the release's eval/tts.py loop exactly (released_tts.py)


@dataclass(frozen=True)
class PipelineOptions:
    n: int = 8
    voting: VotingMode = VotingMode.CONFIDENCE
    weight_mode: WeightMode = WeightMode.CODE
    sampling: SamplingParams = field(default_factory=SamplingParams)
    abstain_below: float = 0.0          # confidence under this -> abstain
    freeform_similarity: float = 1.0    # 1.0 = exact normalized match only
    temporal_iou: float = 0.5           # cluster threshold for temporal answers
    return_traces: bool = False
    add_duration_line: bool | None = None  # None: the protocol's rule (rl: every video)
    prompt: PromptSpec = DEFAULT_SPEC     # protocol and per-request overrides
    subtitles: tuple[Cue, ...] | None = None  # cues; those at the fed frames are shown


@dataclass(frozen=True)
class MergedEvidence:
    name: str
    time: float
    box_fed: Box
    box_orig: Box
    box_norm: Box
    box_display_norm: Box
    support: int                    # how many traces cited it
    traces: tuple[int, ...]


@dataclass(frozen=True)
class TraceReport:
    """One sampled trace as returned with `return_traces`."""

    index: int
    text: str
    parsed: ParsedTrace
    weight: float
    verifier_score: float | None    # mean 0..2 score, None when not verified
    finish_reason: str = "stop"


@dataclass
class StageTimings:
    """Seconds spent per stage; the gateway adds probe/decode, the pipeline the rest."""

    probe: float = 0.0
    decode: float = 0.0
    backend: float = 0.0
    parse: float = 0.0
    verify: float = 0.0
    vote: float = 0.0

    def as_dict(self) -> dict[str, float]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class Verdict:
    answer: str | None
    confidence: float
    abstained: bool
    task: TaskType
    votes: tuple[VoteRow, ...]
    evidence: tuple[MergedEvidence, ...]
    span: tuple[float, float] | None
    timings: StageTimings
    usage: Usage
    model_id: str
    revision: str
    traces: tuple[TraceReport, ...] = ()
    defects: tuple[str, ...] = ()   # defect codes seen across traces (deduplicated)
    # `usage` is everything the request cost: usage_sampling + usage_verify
    usage_sampling: Usage = field(default_factory=Usage)  # the one sampling call (N traces)
    usage_verify: Usage = field(default_factory=Usage)  # the verifier's scoring calls, summed
    protocol: str = "rl"            # the prompt protocol that ran
    # temperature 0 with n > 1: ONE greedy trace was sampled (and verified) and is
    # reported n times; the vote's counts are n copies of that trace
    greedy_repeated: bool = False
