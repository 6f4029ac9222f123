"""The release's confidence-aware test-time scaling, rule for rule (`weight_mode=released`).

Owns: reading N traces the way the release's MCQ evaluation loop does
(`eval/test/test_videomme.py` and its WorldSense / VideoMMMU twins), each trace's
weight before and after the scorer, the scorer question and sampling settings, and
the vote over the option letters. The readings themselves are `grounding.released`.

Per trace (the release's order of checks):
1. answer: the first `<answer>…</answer>` anywhere, stripped; MCQ: it must be exactly
   one of the table's letters, else "NA" (no vote, weight 0).
2. think: the first closed `<think>…</think>`; none -> weight 0 but the vote is KEPT.
3. majority voting: weight 1.0. Confidence voting: the think's mentions
   (`parse_patterns`) cropped (`extract_and_crop`); no crop, or more than 10 -> 0.2
   without a scorer call; else ONE scorer call with all crops, reply exactly "0"/"1"/
   "2" (else -1) mapped 2 -> 1.0, 1 -> 0.6, anything else -> 0.2.

Vote (MCQ): a table with one entry per letter in order (A-D, or A.. for the number of
options), weights summed in trace order as Python floats, the winner is the FIRST
letter with the largest sum (`max(dict, key=dict.get)`): ties go to the earlier
letter, and when every sum is 0 (nothing votable, or only weight-0 votes) the answer
is "A". The release defines no vote for free-form or temporal answers; there this mode
uses the release's readings and weights with our grouping and tie order
(docs/VOTING.md).

Scorer question (VideoMME form): the question, a newline, the options joined by
newlines as given; `scorer_question(style=...)` also has the WorldSense and VideoMMMU
forms for the golden tables. Scorer sampling: the release sends the scorer the SAME
`SamplingParams` as the traces (its configs: temperature 0, max_tokens 8192, and a
fixed repetition_penalty 1.05); here: the request's sampling with
repetition_penalty 1.05.

Invariants: pure (the scorer calls are `verifier.verify_released`); never raises on
model text; `vote_letters` returns a winner for any input with at least one letter.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Literal

from service.grounding import released as rel
from service.grounding.types import ParsedTrace, TaskType
from service.grounding.voting import VoteOutcome, VoteRow, VotingMode
from service.inference.backend import SamplingParams

REPETITION_PENALTY = 1.05
ScorerStyle = Literal["videomme", "worldsense", "videommmu"]


@dataclass(frozen=True)
class ReleasedTrace:
    """One trace as the release reads it."""

    answer: str | None          # the letter (MCQ) / stripped answer text; None = "NA"
    think: str | None           # None: no closed think (weight 0, vote kept)
    mentions: tuple[rel.Mention, ...] = ()
    span: tuple[float, float] | None = None  # temporal: `extract_timestamps`

    @property
    def votes(self) -> bool:
        return self.answer is not None and self.answer != ""


def read_trace(text: str, task: TaskType, letters: Sequence[str]) -> ReleasedTrace:
    think = rel.think_text(text)
    mentions = tuple(rel.evidence(think)) if think is not None else ()
    if task is TaskType.MCQ:
        return ReleasedTrace(rel.mcq_letter(text, tuple(letters)), think, mentions)
    answer = rel.answer_text(text)
    if task is TaskType.TEMPORAL:
        pair = rel.timestamps(text)
        span = (pair[0], pair[1]) if pair else None
        return ReleasedTrace(answer if span else None, think, mentions, span)
    return ReleasedTrace(answer, think, mentions)


def base_weight(trace: ReleasedTrace, voting: VotingMode) -> float | None:
    """The weight known without a scorer call; None = ask the scorer (or 0.2)."""
    if not trace.votes or trace.think is None:
        return 0.0
    if voting is VotingMode.CONFIDENCE:
        return None
    return 1.0


def scorer_question(
    question: str, options: Sequence[str] | None, style: ScorerStyle = "videomme"
) -> str:
    """The question text the release puts in the scorer prompt."""
    opts = list(options or [])
    if style == "worldsense":
        return "Question: {}\n".format(question + "\n" + "\n".join(opts))
    if not opts:
        return question
    if style == "videommmu":
        return question + "\n" + _lettered_videommmu(opts)
    return question + "\n" + "\n".join(opts)


def _lettered_videommmu(options: list[str]) -> str:
    letters = [chr(ord("A") + i) for i in range(len(options))]
    if all(o.startswith(f"{x}.") for o, x in zip(options, letters, strict=False)):
        return "\n".join(options)
    return "\n".join(f"{x}. {o}" for x, o in zip(letters, options, strict=False))


def scoring_sampling(sampling: SamplingParams) -> SamplingParams:
    """The release scores with its generation settings, repetition_penalty 1.05, n=1."""
    return replace(sampling, repetition_penalty=REPETITION_PENALTY)


def vote_letters(
    traces: Sequence[ReleasedTrace], weights: Sequence[float], letters: Sequence[str]
) -> VoteOutcome:
    """The release's vote over `letters` (see the module docstring)."""
    table: dict[str, float] = {x: 0 for x in letters}
    members: dict[str, list[int]] = {x: [] for x in letters}
    for i, (t, w) in enumerate(zip(traces, weights, strict=True)):
        if t.answer is None or t.answer not in table:
            continue
        table[t.answer] += w
        members[t.answer].append(i)
    winner = max(table, key=lambda x: table[x])
    order = {x: k for k, x in enumerate(letters)}
    voted = [x for x in letters if members[x] or x == winner]
    ranked = sorted(voted, key=lambda x: (x != winner, -table[x], order[x]))
    rows = tuple(VoteRow(x, float(table[x]), len(members[x]), tuple(members[x]), None)
                 for x in ranked)
    total = sum(table.values())
    confidence = table[winner] / total if total > 0 else 0.0
    eff = tuple(float(w) if t.votes and t.answer in table else 0.0
                for t, w in zip(traces, weights, strict=True))
    return VoteOutcome(winner, rows, min(1.0, confidence), None, eff)


def as_parsed(trace: ReleasedTrace, raw: str) -> ParsedTrace:
    """For the non-MCQ vote (ours): a weight-0 unclosed-think trace still votes."""
    think = trace.think if trace.think is not None else ""
    return ParsedTrace(raw=raw, think=think, answer=trace.answer, span=trace.span)
