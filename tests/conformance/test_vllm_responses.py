"""What vLLM answers, built by vLLM's own response models: our parser reads it, and the
stand-in's answers are valid vLLM responses (so tests against the stand-in see the
shape a real vLLM sends)."""

from __future__ import annotations

import httpx
import pytest

from service.inference.doubles import ScriptedBackend
from service.inference.vllm_http import parse_completions
from tests.conformance.conftest import Probe
from tests.support.vllm_standin import start_standin

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize("finish", [["stop", "length", "stop"], ["length"]])
def test_parser_reads_vllms_response(vllm_probe: Probe, finish: list[str]) -> None:
    texts = [f"<think>t{i}</think><answer>{i}</answer>" for i in range(len(finish))]
    body = vllm_probe.ask({"op": "response", "texts": texts, "finish": finish,
                           "usage": [1200, 77]})["body"]
    result = parse_completions(body, len(finish))
    assert [c.text for c in result.completions] == texts
    assert [c.finish_reason for c in result.completions] == finish
    assert (result.usage.prompt_tokens, result.usage.completion_tokens) == (1200, 77)


def test_standin_answers_are_vllm_responses(vllm_probe: Probe) -> None:
    backend = ScriptedBackend(["<think>a</think><answer>A</answer>"], name="m")
    with start_standin(backend) as url:
        chat = httpx.post(f"{url}/v1/chat/completions", json={
            "model": "m", "n": 2, "max_completion_tokens": 8,
            "messages": [{"role": "user", "content": "hi"}]}).json()
        models = httpx.get(f"{url}/v1/models").json()
    assert vllm_probe.ask({"op": "validate", "kind": "response", "body": chat})["ok"]
    assert vllm_probe.ask({"op": "validate", "kind": "models", "body": models})["ok"]
    broken = {**chat, "choices": "not a list"}  # negative control: the check can fail
    assert not vllm_probe.ask({"op": "validate", "kind": "response", "body": broken})["ok"]
