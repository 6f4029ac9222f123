"""The CPU stand-in (tests/support/vllm_standin.py) against vLLM's own code: every body
vLLM refuses that the tier draws, the stand-in refuses too (same words where vLLM has
them), and the fields it takes are fields vLLM knows."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.conformance.conftest import Probe
from tests.conformance.test_vllm_requests import TINY_PNG
from tests.support.vllm_standin import KNOWN_FIELDS, _Refusal, sampling_from_body

pytestmark = pytest.mark.conformance
COUNTS = {"vllm_refused": 0, "both_accept": 0}


def test_standin_fields_are_vllm_fields(vllm_probe: Probe) -> None:
    known = set(vllm_probe.ask({"op": "fields"})["fields"])
    assert known >= KNOWN_FIELDS, KNOWN_FIELDS - known


bodies = st.fixed_dictionaries({
    "n": st.integers(-1, 6),
    "temperature": st.one_of(st.just(0.0), st.floats(-0.5, 2.5)),
    "top_p": st.floats(-0.1, 1.2),
    "top_k": st.integers(-3, 50),
    "max_completion_tokens": st.integers(-1, 64),
    "repetition_penalty": st.floats(-0.5, 2.5),
    "seed": st.one_of(st.none(), st.integers(-2, 10)),
})


@settings(max_examples=150, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(fields=bodies)
def test_standin_refuses_whatever_vllm_refuses(vllm_probe: Probe,
                                               fields: dict[str, Any]) -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": "hi"}, {"type": "image_url", "image_url": {"url": TINY_PNG}}]}],
        **fields}
    vllm = vllm_probe.ask({"op": "chat", "body": body, "prompt_tokens": 10,
                           "max_model_len": 32768, "image_limit": 64})
    try:
        sampling_from_body(body)
        standin_error = ""
    except _Refusal as exc:
        standin_error = exc.message
    if not vllm["ok"]:
        COUNTS["vllm_refused"] += 1
        assert standin_error, f"vLLM refuses ({vllm['error']}), the stand-in takes {fields}"
        if "greedy" in vllm["error"]:
            assert standin_error in vllm["error"]  # the same words
    elif not standin_error:
        COUNTS["both_accept"] += 1


def test_strictness_draw_covered_both_sides() -> None:
    assert COUNTS["vllm_refused"] >= 30 and COUNTS["both_accept"] >= 5, COUNTS
