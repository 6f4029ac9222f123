"""Judges of V-STAR's open "what" answers: a 0..3 similarity score per answer.

- `OpenAIJudge`: any OpenAI-compatible chat endpoint (vLLM serving
  Qwen2.5-72B-Instruct as in the paper, or any other), reached with the official
  `openai` client, greedy (temperature 0). The prompt follows the benchmark's rubric
  (0 no similarity ... 3 complete similarity, reply with one integer), in our own
  words; pass `system_prompt` / `user_template` (`{question}`, `{truth}`,
  `{candidate}`) to use another wording verbatim, e.g. the benchmark's own (the CLI's
  `--judge-prompt FILE` / `--judge-template FILE`).
- `LenientJudge`: an OFFLINE string judge for machines without a judge model. It is
  NOT the benchmark's judge, and every report produced with it says so
  (`Judge.offline`). Rules, on `service.grounding.normalize` forms: identical -> 3;
  every reference token present in the candidate, or token F1 >= 0.5 -> 2; any
  shared token -> 1; else 0.

The reply is read by `metrics.parse_judge_score` (eval.py's rule: an integer or -1).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from service.grounding.normalize import normalize_answer, similarity

SYSTEM_PROMPT = (
    "You are an AI assistant that grades a candidate answer against a correct "
    "(ground-truth) answer. You receive the question, the ground-truth answer and the "
    "candidate answer. Grade only how similar the candidate is in meaning to the "
    "ground truth, ignoring grammar, on a scale from 0 to 3:\n"
    "0 - no similarity: the candidate is entirely incorrect.\n"
    "1 - low similarity: the candidate is largely incorrect.\n"
    "2 - high similarity: the candidate is largely correct.\n"
    "3 - complete similarity: the candidate is entirely correct.\n"
    "Reply with a single integer: 0, 1, 2 or 3."
)
USER_TEMPLATE = (
    "Question: {question}\nGroundtruth answer: {truth}\nCandidate answer: {candidate}\n"
    "Your response: "
)


@dataclass(frozen=True)
class Judgement:
    reply: str | None   # the judge's raw reply (None: no reply)
    judge: str          # which judge produced it


class Judge(Protocol):
    @property
    def name(self) -> str: ...

    @property
    def offline(self) -> bool: ...

    async def judge(self, question: str, truth: str, candidate: str) -> Judgement: ...


@dataclass(frozen=True)
class LenientJudge:
    """Offline string-similarity judge (labelled as such in every report)."""

    @property
    def name(self) -> str:
        return "lenient-string (offline fallback, not the benchmark's LLM judge)"

    @property
    def offline(self) -> bool:
        return True

    async def judge(self, question: str, truth: str, candidate: str) -> Judgement:
        return Judgement(str(lenient_score(truth, candidate)), self.name)


def lenient_score(truth: str, candidate: str) -> int:
    t, c = normalize_answer(truth), normalize_answer(candidate)
    if not t or not c:
        return 0
    if t == c:
        return 3
    t_tokens, c_tokens = set(t.split()), set(c.split())
    if t_tokens <= c_tokens or similarity(t, c) >= 0.5:
        return 2
    return 1 if t_tokens & c_tokens else 0


class OpenAIJudge:
    """A judge model behind an OpenAI-compatible endpoint, asked greedily."""

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str = "EMPTY",
        system_prompt: str = SYSTEM_PROMPT,
        user_template: str = USER_TEMPLATE,
        max_tokens: int = 16,
        timeout: float = 120.0,
    ) -> None:
        from openai import AsyncOpenAI

        self._client = AsyncOpenAI(base_url=base_url, api_key=api_key, timeout=timeout)
        self._model = model
        self._system = system_prompt
        self._user = user_template
        self._max_tokens = max_tokens

    @property
    def name(self) -> str:
        return f"llm:{self._model}"

    @property
    def offline(self) -> bool:
        return False

    async def judge(self, question: str, truth: str, candidate: str) -> Judgement:
        user = self._user.format(question=question, truth=truth, candidate=candidate)
        response = await self._client.chat.completions.create(
            model=self._model,
            messages=[{"role": "system", "content": self._system},
                      {"role": "user", "content": user}],
            temperature=0.0,
            max_tokens=self._max_tokens,
        )
        content = response.choices[0].message.content if response.choices else None
        return Judgement(content, self.name)

    async def close(self) -> None:
        await self._client.close()
