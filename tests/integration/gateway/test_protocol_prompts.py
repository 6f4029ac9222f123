"""One fixed video and question per prompt protocol: the EXACT prompt the gateway sends.

The gateway runs on the real vLLM HTTP backend against the capturing CPU stand-in
(`tests.support.vllm_standin`, real HTTP); each test renders the chat messages the
stand-in received through the Qwen2.5-VL chat template and compares the whole text.
The video: 2 s moving square, 4 fed frames at 0.0 / 0.67 / 1.3 / 1.97 s (decoded pts).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from service.app import create_app
from service.grounding import protocols as pc
from service.grounding.prompt import FREE_FORM_SYSTEM_PROMPT, MCQ_SYSTEM_PROMPT
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, settings_for
from tests.support.vllm_standin import StandinState, start_standin

IMG = "<|vision_start|><|image_pad|><|vision_end|>"
TRUE = (f"Frame 1 at 0.0s: {IMG}\nFrame 2 at 0.7s: {IMG}\nFrame 3 at 1.3s: {IMG}\n"
        f"Frame 4 at 2.0s: {IMG}\n")
SPREAD = (f"Frame 1 at 0.0s: {IMG}\nFrame 2 at 0.5s: {IMG}\nFrame 3 at 1.0s: {IMG}\n"
          f"Frame 4 at 1.5s: {IMG}\n")
THINK = ("You must first think about the reasoning process in the mind and then provide the "
         "user with the answer. The reasoning process and answer are enclosed within <think> "
         "</think> and <answer> </answer> tags, respectively.")
BASE = {"question": "What moves?", "n": 1, "voting": "single", "frames": {"num_frames": 4}}


def chat(system: str, user: str) -> str:
    return (f"<|im_start|>system\n{system}<|im_end|>\n<|im_start|>user\n{user}<|im_end|>\n"
            "<|im_start|>assistant\n")


@pytest.fixture(scope="module")
def standin() -> Iterator[tuple[str, StandinState]]:
    state = StandinState()
    with start_standin(ScriptedBackend([TRACE]), state=state) as url:
        yield url, state


@pytest.fixture
async def client(tmp_path: Path, standin: tuple[str, StandinState], video_path: Path
                 ) -> AsyncIterator[tuple[httpx.AsyncClient, str]]:
    app = create_app(settings_for(tmp_path, vllm_url=standin[0], vllm_model="scripted-double",
                                  cache_ttl_s=0))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            with video_path.open("rb") as f:
                r = await c.post("/v1/videos", files={"file": ("v.mp4", f)})
            yield c, r.json()["id"]


def sent(state: StandinState) -> str:
    from transformers.utils.chat_template_utils import render_jinja_template

    from service.inference.tiny import QWEN25_VL_CHAT_TEMPLATE
    out, _ = render_jinja_template([state.requests[-1]["messages"]],
                                   chat_template=QWEN25_VL_CHAT_TEMPLATE,
                                   add_generation_prompt=True)
    return str(out[0])


async def ask(client: tuple[httpx.AsyncClient, str], **fields: Any) -> dict[str, Any]:
    c, video_id = client
    r = await c.post("/v1/reason", json=BASE | {"video_id": video_id} | fields)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    assert body["protocol"] == fields.get("protocol", "rl")  # echoed
    return body


CASES: list[tuple[dict[str, Any], str]] = [
    # rl (default): true times, the RL trainer's duration line, the question
    ({}, chat(FREE_FORM_SYSTEM_PROMPT, TRUE + "The video is in total 2 seconds.\nWhat moves?")),
    # released: the RL trainer's evenly spread index / sample_fps labels
    ({"protocol": "released"},
     chat(FREE_FORM_SYSTEM_PROMPT, SPREAD + "The video is in total 2 seconds.\nWhat moves?")),
    # sft: grounded QA keeps the "s", has no duration line, and the SFT system prompt
    ({"protocol": "sft"},
     chat(pc.SFT_SYSTEM_PROMPTS["temporal-spatial free-form QA"], SPREAD + "What moves?")),
    # sft, multiple choice: "at {t}:" labels, duration line, "Question: " prefix
    ({"protocol": "sft", "options": ["red", "blue"]},
     chat(pc.SFT_SYSTEM_PROMPTS["General video QA MCQ"], SPREAD.replace("s: ", ": ")
          + "The video is in total 2 seconds.\nQuestion: What moves?\nA. red\nB. blue")),
    ({"protocol": "vstar-what"},
     chat("You are a helpful assistant.", TRUE + "Answer the question about the video: What "
          "moves? \n (If the answer is a person, you don't need to identify the person.)" + THINK
          + " All reasoning must be grounded in visual evidence from the video. When you mention"
          " any related object, person, or specific visual element, you must strictly follow "
          "the following format: `<obj>object_name</obj><box>bounding_box</box>at<t>time_in_"
          "seconds</t>s`. Do not use <box>, <obj> and <t> in the answer part.")),
    ({"protocol": "vstar-when"},
     chat("You are a helpful assistant.", "This video is 2.0 seconds long. " + TRUE
          + "\nAnswer the question about the video: What moves? \n. " + THINK + " The answer "
          "must follow the following format: `From <t>start_time</t>s to <t>end_time</t>s'")),
    ({"protocol": "vstar-where", "instruction": "Please answer: boxes for [0, 1].\n"},
     chat("You are a helpful assistant.", TRUE + "\nPlease answer: boxes for [0, 1].\n")),
    ({"protocol": "vstar-where-chain2", "instruction": "Give 2 bbox(es).\n"},
     chat("You are a helpful assistant.", TRUE + "\nGive 2 bbox(es).\n")),
    ({"protocol": "vstar-when-chain2", "instruction": "Boxes were [[1, 2, 3, 4]].",
      "preamble": "This video is 2.0 seconds long with a resolution of 160x120 (width x height). "},
     chat("You are a helpful assistant.", "This video is 2.0 seconds long with a resolution of "
          "160x120 (width x height). " + TRUE + "\nBoxes were [[1, 2, 3, 4]].")),
    # mcq-video: frames as images without labels, the VideoMME loader's think-mode text
    ({"protocol": "mcq-video", "options": ["A. red", "B. blue"]},
     chat("You are a helpful assistant.", IMG * 4 + "Question:What moves?\nA. red\nB. blue\n"
          + pc.MCQ_VIDEO_THINK_PROMPT)),
    # overrides: system replaces the system prompt, instruction the text after the frames
    ({"system": "Be brief.", "instruction": "Say what moves."},
     chat("Be brief.", TRUE + "The video is in total 2 seconds.\nSay what moves.")),
    ({"options": ["red", "blue"]},
     chat(MCQ_SYSTEM_PROMPT, TRUE + "The video is in total 2 seconds.\nWhat moves?\nA. red\n"
          "B. blue")),
]


@pytest.mark.parametrize(("fields", "expected"), CASES,
                         ids=[c[0].get("protocol", "rl") + ("+" + "+".join(sorted(c[0])) if c[0]
                              else "") for c in CASES])
async def test_exact_prompt_per_protocol(client: tuple[httpx.AsyncClient, str],
                                         standin: tuple[str, StandinState],
                                         fields: dict[str, Any], expected: str) -> None:
    body = await ask(client, **fields)
    assert body["frames"]["times"] == pytest.approx([0.0, 2 / 3, 1.3, 59 / 30])
    assert sent(standin[1]) == expected


async def test_subtitles_are_placed_by_frame_time(client: tuple[httpx.AsyncClient, str],
                                                  standin: tuple[str, StandinState]) -> None:
    srt = ("1\n00:00:00,000 --> 00:00:00,500\nA square appears.\n\n"
           "2\n00:00:00,600 --> 00:00:00,650\nNot on any frame.\n\n"
           "3\n00:00:01,200 --> 00:00:02,000\nIt moves\nto the right.\n")
    await ask(client, subtitles=srt)
    assert sent(standin[1]) == chat(FREE_FORM_SYSTEM_PROMPT, TRUE + "The video is in total 2 "
                                    "seconds.\nAudio transcripts of the video:\nA square appears."
                                    "\nIt moves to the right.\nQuestion:What moves?")
