"""Token usage of a verdict: the sampling call plus every scoring call, exactly.

The ScriptedBackend double counts words as tokens (prompt: the user turn's words;
completion: each reply's words), for `sample` and `score` alike, so the expected
usage follows from the calls it recorded. Replies are "Score: 2" (two words) so a
reply's tokens are not confused with the number of calls.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from PIL import Image

from service.grounding.prompt import build_scorer_prompt, format_question
from service.grounding.types import Prompt
from service.grounding.voting import VotingMode
from service.inference.backend import BackendTimeout, Usage
from service.inference.doubles import ScriptedBackend, prompt_words
from service.inference.pipeline import Pipeline
from service.inference.types import PipelineOptions, WeightMode
from tests.unit.inference.test_pipeline import LEFT, OPTIONS, RIGHT, cite, frames

QUESTION = "What is shown?"
REPLY = "Score: 2"
ONE = cite("A", ("ball", LEFT, 1.0))
TWO = cite("A", ("ball", LEFT, 1.0), ("cube", RIGHT, 2.0))
BARE = "<think>no evidence cited</think><answer>B</answer>"

CASES = [
    # confidence voting, released-code mode: one scoring call per trace (8 calls)
    (VotingMode.CONFIDENCE, WeightMode.CODE, [ONE], 8, 8),
    # paper mode: one call per cited object, two objects per trace (2 x 3 calls)
    (VotingMode.CONFIDENCE, WeightMode.PAPER, [TWO], 3, 6),
    # traces that cite nothing are weighted without a call: verify costs nothing
    (VotingMode.CONFIDENCE, WeightMode.CODE, [BARE], 4, 0),
    # a mix: only the citing traces are scored (ONE, BARE, ONE, BARE, ONE)
    (VotingMode.CONFIDENCE, WeightMode.CODE, [ONE, BARE], 5, 3),
    # majority voting never calls the verifier: usage is the sampling call's alone
    (VotingMode.MAJORITY, WeightMode.CODE, [ONE], 8, 0),
]


@pytest.mark.parametrize(("voting", "mode", "script", "n", "score_calls"), CASES)
async def test_usage_is_sampling_plus_every_score(
    voting: VotingMode, mode: WeightMode, script: list[str], n: int, score_calls: int
) -> None:
    backend = ScriptedBackend(completions=script, scores=[REPLY])
    opts = PipelineOptions(n=n, voting=voting, weight_mode=mode)
    v = await Pipeline(backend).run(frames(), QUESTION, options=OPTIONS, opts=opts)
    sample = next(c for c in backend.calls if c.kind == "sample")
    scores = [c for c in backend.calls if c.kind == "score"]
    assert len(scores) == score_calls
    picked = [script[i % len(script)] for i in range(n)]
    expect_sampling = Usage(prompt_words(sample.prompt), sum(len(t.split()) for t in picked))
    expect_verify = Usage(sum(prompt_words(c.prompt) for c in scores), 2 * score_calls)
    assert v.usage_sampling == expect_sampling
    assert v.usage_verify == expect_verify
    assert v.usage == expect_sampling + expect_verify


async def test_each_score_call_counts_its_own_scorer_prompt() -> None:
    # CODE mode, one crop per trace: every scoring prompt is the one-crop scorer prompt,
    # so the verify usage is 8 times that prompt's words, and 8 x 2 reply words
    backend = ScriptedBackend(completions=[ONE], scores=[REPLY])
    v = await Pipeline(backend).run(frames(), QUESTION, options=OPTIONS,
                                    opts=PipelineOptions(n=8))
    per_call = prompt_words(build_scorer_prompt(format_question(QUESTION, OPTIONS), 1))
    assert per_call > 0
    assert v.usage_verify == Usage(8 * per_call, 16)
    assert v.usage.total_tokens == v.usage_sampling.total_tokens + 8 * (per_call + 2)


async def test_a_failed_scoring_call_costs_nothing_it_did_not_report() -> None:
    calls = 0

    def flaky(prompt: Prompt, images: Sequence[Image.Image]) -> str:
        nonlocal calls
        calls += 1
        if calls == 2:
            raise BackendTimeout("scorer too slow")
        return REPLY

    backend = ScriptedBackend(completions=[ONE], scores=flaky)
    v = await Pipeline(backend, max_scoring_concurrency=1).run(
        frames(), QUESTION, options=OPTIONS, opts=PipelineOptions(n=3))
    per_call = prompt_words(build_scorer_prompt(format_question(QUESTION, OPTIONS), 1))
    # three calls went out; the one that raised reported nothing, so two are counted
    assert calls == 3 and "verifier_failed" in v.defects
    assert v.usage_verify == Usage(2 * per_call, 4)
    assert v.usage == v.usage_sampling + v.usage_verify
