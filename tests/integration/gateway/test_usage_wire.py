"""Token usage on the wire: /v1/reason reports the total and its sampling/verify split;
the OpenAI endpoint's standard usage is the total (sampling + verification).

The ScriptedBackend double counts words as tokens for `sample` and `score` alike, so
the expected numbers follow from the calls it recorded.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from service.inference.backend import Usage
from service.inference.doubles import RecordedCall, ScriptedBackend, prompt_words
from tests.integration.gateway.conftest import TRACE, Gateway, upload
from tests.integration.gateway.test_openai import client_for

REPLY = "rated 2"  # two words per scoring reply


def expected(calls: list[RecordedCall], kind: str, reply_words: int) -> Usage:
    mine = [c for c in calls if c.kind == kind]
    return Usage(sum(prompt_words(c.prompt) for c in mine), reply_words * len(mine))


def counts(u: Usage) -> dict[str, int]:
    return {"prompt_tokens": u.prompt_tokens, "completion_tokens": u.completion_tokens,
            "total_tokens": u.total_tokens}


@pytest.mark.parametrize(("voting", "score_calls"), [
    ("confidence", 3),  # one scoring call per citing trace: verify tokens counted
    ("majority", 0),    # no verifier: the verify part is zero, the total is sampling
])
async def test_reason_usage_is_sampling_plus_verify(
    gateway: Gateway, video_path: Path, voting: str, score_calls: int
) -> None:
    backend = ScriptedBackend([TRACE], scores=[REPLY])
    async with gateway(backend) as c:
        video = await upload(c, video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                             "options": ["A. x", "B. y"], "n": 3,
                                             "voting": voting})
    assert r.status_code == 200, r.text
    usage: dict[str, Any] = r.json()["usage"]
    sampling = Usage(expected(backend.calls, "sample", 0).prompt_tokens, 3 * len(TRACE.split()))
    verify = expected(backend.calls, "score", 2)
    assert sum(call.kind == "score" for call in backend.calls) == score_calls
    assert usage["sampling"] == counts(sampling)
    assert usage["verify"] == counts(verify)
    assert {k: usage[k] for k in counts(verify)} == counts(sampling + verify)


async def test_openai_usage_counts_the_verifier_too(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE], scores=[REPLY])
    async with gateway(backend) as c:
        video = await upload(c, video_path)
        resp = await client_for(c).chat.completions.create(
            model="m", n=2, messages=[{"role": "user", "content": [
                {"type": "video_url", "video_url": {"url": f"video://{video['id']}"}},
                {"type": "text", "text": "What moves?"}]}])  # type: ignore[misc, list-item]
    total = expected(backend.calls, "sample", 0) + Usage(0, 2 * len(TRACE.split()))
    total += expected(backend.calls, "score", 2)
    assert sum(call.kind == "score" for call in backend.calls) == 2
    assert resp.usage is not None
    assert (resp.usage.prompt_tokens, resp.usage.completion_tokens,
            resp.usage.total_tokens) == (total.prompt_tokens, total.completion_tokens,
                                         total.total_tokens)
