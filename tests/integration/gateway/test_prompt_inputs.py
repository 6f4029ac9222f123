"""Prompt inputs on the wire: subtitle files (SRT/WebVTT uploads, a video's own subtitle
stream), bad subtitles and prompts refused with a 4xx, chat system messages, and the
cache key of the prompt fields."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from service.api.reason.params import prompt_key
from service.api.reason.protocol import ReasonFields
from service.grounding.types import Prompt, TextPart
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway, upload, wait_job
from tests.integration.gateway.test_openai import client_for

SRT = ("1\n00:00:00,000 --> 00:00:00,500\nA square appears.\n\n"
       "2\n00:00:01,200 --> 00:00:02,000\nIt moves\nto the right.\n")
VTT = ("WEBVTT\n\nNOTE made for the test\n\n00:00.000 --> 00:00.500 align:start\n"
       "<v Anna>A square appears.</v>\n\nc2\n00:01.200 --> 00:02.000\nIt moves\nto the right.\n")
SHOWN = "Audio transcripts of the video:\nA square appears.\nIt moves to the right.\nQuestion:"


def sampled(backend: ScriptedBackend) -> Prompt:
    """The prompt of the last sampling call (scoring calls have the verifier's)."""
    return [c for c in backend.calls if c.kind == "sample"][-1].prompt


def user_text(backend: ScriptedBackend) -> str:
    return "".join(p.text for p in sampled(backend).user if isinstance(p, TextPart))


@pytest.fixture(scope="module")
def subtitled_video(tmp_path_factory: pytest.TempPathFactory, video_path: Path) -> Path:
    """The 2 s test video with the SRT above muxed in as a mov_text subtitle stream."""
    d = tmp_path_factory.mktemp("subs")
    (d / "s.srt").write_text(SRT, encoding="utf-8")
    out = d / "subtitled.mp4"
    subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(video_path), "-i",
                    str(d / "s.srt"), "-c:v", "copy", "-c:s", "mov_text", str(out)], check=True)
    return out


@pytest.mark.parametrize(("name", "text"), [("s.srt", SRT), ("s.vtt", VTT)])
async def test_subtitle_file_upload(gateway: Gateway, video_path: Path, tmp_path: Path,
                                    name: str, text: str) -> None:
    sub = tmp_path / name
    sub.write_text(text, encoding="utf-8")
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        with video_path.open("rb") as v, sub.open("rb") as s:
            r = await c.post("/v1/reason", files={"file": ("v.mp4", v, "video/mp4"),
                                                  "subtitles": (name, s, "text/plain")},
                             data={"question": "What moves?", "n": "1", "voting": "single"})
    assert r.status_code == 200, r.text
    assert user_text(backend).endswith(SHOWN + "What moves?")


async def test_video_subtitle_stream(gateway: Gateway, subtitled_video: Path,
                                     video_path: Path) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        vid = (await upload(c, subtitled_video))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": "What moves?", "n": 1,
                                             "voting": "single", "video_subtitles": True})
        assert r.status_code == 200, r.text
        assert user_text(backend).endswith(SHOWN + "What moves?")
        plain = (await upload(c, video_path))["id"]
        r = await c.post("/v1/reason", json={"video_id": plain, "question": "Q?",
                                             "video_subtitles": True})
    assert r.status_code == 422 and r.json()["error"]["code"] == "no_subtitle_stream"


@pytest.mark.parametrize(("subs", "line"), [
    ("1\n00:00:01,000 -> 00:00:02,000\nwrong arrow\n", 1),       # no timing line in block
    ("1\n00:00:00,000 --> 00:00:01,000\nok\n\n2\n00:00:0x,000 --> 00:00:03,000\nbad\n", 6),
    ("1\n00:00:05,000 --> 00:00:02,000\nbackwards\n", 2),        # ends before it starts
    ("WEBVTT\n\n00:00.000 --> 00:01,000\ncomma in VTT\n", 3),
])
async def test_bad_subtitles_are_a_400_naming_the_line(gateway: Gateway, video_path: Path,
                                                       subs: str, line: int) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        vid = (await upload(c, video_path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": "Q?",
                                             "subtitles": subs})
    assert r.status_code == 400, r.text
    err = r.json()["error"]
    assert err["code"] == "invalid_subtitles" and err["param"] == "subtitles"
    assert err["message"].startswith(f"subtitles line {line}:")
    assert backend.calls == []  # refused before any inference


@pytest.mark.parametrize(("fields", "code"), [
    ({"protocol": "vstar-where"}, "invalid_prompt"),              # needs the annotation text
    ({"protocol": "vstar-when-chain2", "instruction": "x"}, "invalid_prompt"),  # + preamble
    ({"protocol": "sft", "task": "temporal", "options": ["a", "b"]}, "invalid_prompt"),
    ({"protocol": "vstar-everything"}, "invalid_request"),
    ({"system": "x" * 8001}, "invalid_request"),                 # bounded
    ({"instruction": ""}, "invalid_request"),
    ({"subtitles": "1\n00:00:00,000 --> 00:00:01,000\nx\n", "video_subtitles": True},
     "invalid_subtitles"),
])
async def test_prompts_a_protocol_cannot_build_are_refused(
        gateway: Gateway, video_path: Path, fields: dict[str, object], code: str) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        vid = (await upload(c, video_path))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": "Q?"} | fields)
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert backend.calls == []


async def test_chat_system_message_is_the_system_prompt(gateway: Gateway,
                                                        video_path: Path) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        vid = (await upload(c, video_path))["id"]
        resp = await client_for(c).chat.completions.create(
            model="any", n=1, messages=[
                {"role": "system", "content": "Answer in one word."},
                {"role": "user", "content": [
                    {"type": "video_url", "video_url": {"url": f"video://{vid}"}},  # type: ignore[list-item, misc]
                    {"type": "text", "text": "What moves?"}]}],
            extra_body={"protocol": "released", "voting": "single"})
    assert sampled(backend).system == "Answer in one word."
    assert resp.model_extra is not None and resp.model_extra["grounding"]["protocol"] == "released"


def test_cache_key_prompt_fields() -> None:
    # the default request's key does not move when a client spells the defaults out...
    base = ReasonFields(question="Q?")
    assert prompt_key(base) == {} == prompt_key(ReasonFields(question="Q?", protocol="rl"))
    # ...and every prompt field that changes the prompt changes the key
    for change in ({"protocol": "released"}, {"system": "s"}, {"instruction": "i"},
                   {"preamble": "p"}, {"subtitles": ""}, {"video_subtitles": True}):
        assert prompt_key(ReasonFields(question="Q?", **change)) != {}  # type: ignore[arg-type]


async def test_prompt_fields_survive_a_job(gateway: Gateway, video_path: Path) -> None:
    # async requests go through the job queue's JSON payload: nothing of the prompt lost
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        vid = (await upload(c, video_path))["id"]
        r = await c.post("/v1/reason", json={
            "video_id": vid, "question": "What moves?", "n": 1, "voting": "single",
            "async": True, "protocol": "released", "system": "Be brief.", "subtitles": SRT})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["job_id"])
    assert job["status"] == "done" and job["result"]["protocol"] == "released"
    assert sampled(backend).system == "Be brief."
    assert user_text(backend).endswith(SHOWN + "What moves?")


async def test_chat_prompt_fields(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        vid = (await upload(c, video_path))["id"]
        await client_for(c).chat.completions.create(
            model="any", n=1, messages=[
                {"role": "developer", "content": "Short answers."},
                {"role": "user", "content": [
                    {"type": "video_url", "video_url": {"url": f"video://{vid}"}},  # type: ignore[list-item, misc]
                    {"type": "text", "text": "What moves?"}]}],
            extra_body={"instruction": "Name the moving thing.", "subtitles": SRT})
    assert sampled(backend).system == "Short answers."
    text = user_text(backend)
    assert text.endswith("Audio transcripts of the video:\nA square appears.\nIt moves to the "
                         "right.\nQuestion:Name the moving thing.")


async def test_frames_grid_vstar_release(gateway: Gateway, tmp_path: Path) -> None:
    # 7.5 fps: the script steps int(7.5) = 7 frames (0.933 s); the exact grid 1/fps
    from service.video.synth import write_moving_square

    clip = tmp_path / "c.mp4"
    write_moving_square(clip, duration=3.0, fps=7.5)
    async with gateway(ScriptedBackend([TRACE])) as c:
        vid = (await upload(c, clip))["id"]
        times = {}
        for grid in ("exact", "vstar-release"):
            r = await c.post("/v1/reason", json={
                "video_id": vid, "question": "Q?", "n": 1, "voting": "single",
                "frames": {"fps": 1.0, "num_frames": 16, "grid": grid}})
            assert r.status_code == 200, r.text
            times[grid] = r.json()["frames"]["times"]
    # range(0, 22 frames, 7): the script keeps the 4th frame although 3 s "expect" 3
    assert times["vstar-release"] == pytest.approx([0.0, 7 / 7.5, 14 / 7.5, 21 / 7.5])
    assert times["exact"] != times["vstar-release"]
