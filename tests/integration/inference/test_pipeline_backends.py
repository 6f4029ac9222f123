"""The pipeline against real backends: the vLLM HTTP backend over real HTTP to the
CPU stand-in server, and the local transformers backend on the tiny checkpoint.

Frames come from a generated video through the real sampler (PyAV decode).
- Stand-in (scripted completions): the verdict is exact, ONE chat request carries all
  N samples, and each verification is its own temperature-0 request whose crops
  (JPEG data URLs, decoded again by the stand-in) still show the red square.
- Tiny checkpoint (random weights, so random text): the whole chain runs on a real
  model and returns a verdict whatever the text is, with usage and timings filled.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from PIL import Image

from service.grounding.geometry import box_iou, display_to_fed
from service.grounding.grammar import format_evidence, format_trace
from service.grounding.prompt import SCORER_SYSTEM_PROMPT
from service.grounding.types import Prompt
from service.inference.backend import Completion, SampleResult, SamplingParams, Usage
from service.inference.doubles import RecordedCall, ScriptedBackend
from service.inference.local_hf import LocalHFBackend
from service.inference.pipeline import Pipeline
from service.inference.types import PipelineOptions
from service.inference.vllm_http import VLLMHTTPBackend
from service.video.frameset import FrameSet
from service.video.policy import FramePolicy
from service.video.sampler import sample_video
from service.video.synth import MovingSquareTruth, write_moving_square
from tests.support.fixtures import local_backend, tiny_checkpoint  # noqa: F401
from tests.support.vllm_standin import StandinState, start_standin


@pytest.fixture(scope="module")
def square(tmp_path_factory: pytest.TempPathFactory) -> tuple[FrameSet, MovingSquareTruth]:
    path = tmp_path_factory.mktemp("video") / "square.mp4"
    truth = write_moving_square(path, width=160, height=120, fps=10.0, duration=4.0,
                                square_size=32, seed=5)
    return sample_video(path, FramePolicy(num_frames=4)).frameset, truth


def red_judge(prompt: Prompt, images: Sequence[Image.Image]) -> str:
    def red(im: Image.Image) -> bool:
        mean = im.convert("RGB").resize((1, 1), Image.Resampling.BOX)
        r, g, b = mean.getpixel((0, 0))  # type: ignore[misc]
        return bool(r > 150 and g < 90 and b < 90)

    return "2" if images and all(red(im) for im in images) else "0"


@dataclass
class JudgingModel(ScriptedBackend):
    """The double behind the stand-in. vLLM has no separate scoring route: the
    verifier's request is a chat completion like any other, so this double answers
    scorer prompts (recognised by their system prompt) by judging the crops' pixels,
    and replays the scripted traces otherwise."""

    async def sample(
        self, prompt: Prompt, images: Sequence[Image.Image], n: int, sampling: SamplingParams
    ) -> SampleResult:
        if prompt.system != SCORER_SYSTEM_PROMPT:
            return await super().sample(prompt, images, n, sampling)
        self.calls.append(RecordedCall("score", prompt, len(images), n, sampling))
        reply = red_judge(prompt, images)
        return SampleResult(tuple(Completion(reply, "stop", 1) for _ in range(n)), Usage(0, n))


async def test_stand_in_over_http(square: tuple[FrameSet, MovingSquareTruth]) -> None:
    frames, truth = square
    meta = frames.meta
    t = meta.times[1]
    fed_box = display_to_fed(truth.display_box_at(t), meta.display_size, meta.fed_size)
    good = format_trace("It is " + format_evidence("square", [fed_box], t), "B")
    wrong = format_trace("It is " + format_evidence("square", [(0, 0, 10, 10)], t), "A")
    scripted = JudgingModel(completions=[wrong, good, good, wrong, wrong])
    state = StandinState()
    with start_standin(scripted, state=state) as url:
        backend = VLLMHTTPBackend(url, scripted.model_id)
        try:
            verdict = await Pipeline(backend).run(
                frames, "What colour is the square?", options=["blue", "red"],
                opts=PipelineOptions(n=5, sampling=SamplingParams(seed=1)))
        finally:
            await backend.close()
    # majority would say A (3 of 5); the verified crops make it B: 2.0 vs 0.6
    assert (verdict.answer, verdict.votes[0].votes) == ("B", 2)
    assert verdict.confidence == pytest.approx(2.0 / 2.6)
    (ev,) = verdict.evidence
    assert box_iou(ev.box_orig, truth.box_at(t)) > 0.85
    samples = [r for r in state.requests if r.get("n", 1) == 5]
    scores = [r for r in state.requests if r.get("temperature") == 0]
    assert len(samples) == 1 and len(scores) == 5 and len(state.requests) == 6
    # usage: everything the stand-in reported, the 5 scoring calls (1 token each) apart
    sent = [Usage(u["prompt_tokens"], u["completion_tokens"]) for u in state.usages]
    assert len(sent) == 6 and verdict.usage == sum(sent, Usage())
    assert verdict.usage_verify == Usage(0, 5) and verdict.usage_sampling.completion_tokens > 0
    # the crops crossed HTTP as images and were judged: one scorer call per trace
    assert [c.image_count for c in scripted.calls if c.kind == "score"] == [1] * 5


async def test_tiny_checkpoint_end_to_end(
    square: tuple[FrameSet, MovingSquareTruth],
    local_backend: LocalHFBackend,  # noqa: F811
) -> None:
    frames, _ = square
    opts = PipelineOptions(n=3, sampling=SamplingParams(max_tokens=24, seed=0),
                           return_traces=True)
    verdict = await Pipeline(local_backend).run(frames, "What moves?", opts=opts)
    # random weights write random text: whatever it is, a verdict comes back whole
    assert len(verdict.traces) == 3 and verdict.model_id == local_backend.model_id
    assert all(tr.text == tr.parsed.raw for tr in verdict.traces)
    assert verdict.usage.prompt_tokens > 0 and verdict.usage.completion_tokens > 0
    assert verdict.timings.backend > 0 and verdict.timings.parse > 0
    assert (verdict.answer is None) == verdict.abstained
    if verdict.answer is None:  # the expected case for random text
        assert "no_votable_trace" in verdict.defects
