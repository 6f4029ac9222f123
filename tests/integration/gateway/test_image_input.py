"""A still image on `/v1/reason` (`image`: data URL) and on chat (one `image_url`, no
frame times): the release's image prompt, and the answer's box in the image's pixels."""

from __future__ import annotations

import base64
import io

import pytest
from PIL import Image

from service.grounding.protocols import IMAGE_SYSTEM_PROMPT
from service.grounding.types import ImagePart, TextPart
from service.inference.doubles import ScriptedBackend
from service.video.policy import fit_size
from tests.integration.gateway.conftest import Gateway
from tests.integration.gateway.test_openai import client_for

ANSWER = ("<think>The cup <box>[10,20,110,120]</box> is red.</think>"
          "<answer><obj>red cup</obj><box>[10,20,110,120]</box></answer>")


def png(w: int = 640, h: int = 480) -> str:
    buf = io.BytesIO()
    Image.new("RGB", (w, h), (200, 30, 30)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def expected_box() -> list[float]:
    fw, fh = fit_size(640, 480, 4 * 28 * 28, 128 * 28 * 28)
    sx, sy = 640 / fw, 480 / fh
    return [10 * sx, 20 * sy, 110 * sx, 120 * sy]


async def test_reason_on_an_image(gateway: Gateway) -> None:
    backend = ScriptedBackend([ANSWER])
    async with gateway(backend) as c:
        body = {"image": png(), "question": "Where is the red cup?", "n": 2,
                "voting": "majority"}
        r = await c.post("/v1/reason", json=body)
        again = await c.post("/v1/reason", json=body)
    assert r.status_code == 200, r.text
    out = r.json()
    prompt = backend.calls[0].prompt
    assert prompt.system == IMAGE_SYSTEM_PROMPT
    assert prompt.user == (ImagePart(0), TextPart("Where is the red cup?"))
    assert out["answer"] == "<obj>red cup</obj><box>[10,20,110,120]</box>"
    box = out["answer_box"]
    assert box["object"] == "red cup" and box["box_fed"] == [10, 20, 110, 120]
    assert box["box"] == pytest.approx(expected_box())
    assert box["box_normalized"] == pytest.approx([v / s for v, s in zip(
        expected_box(), (640, 480, 640, 480), strict=True)])
    assert out["frames"]["times"] == [0.0] and out["frames"]["original_size"] == [640, 480]
    assert again.json()["cached"] is True and len(backend.calls) == 1


async def test_chat_on_one_image(gateway: Gateway) -> None:
    backend = ScriptedBackend([ANSWER])
    async with gateway(backend) as c:
        resp = await client_for(c).chat.completions.create(
            model="any", n=1, messages=[{"role": "user", "content": [
                {"type": "image_url", "image_url": {"url": png()}},
                {"type": "text", "text": "Where is the red cup?"}]}])
    assert backend.calls[0].prompt.system == IMAGE_SYSTEM_PROMPT
    assert resp.model_extra is not None
    assert resp.model_extra["grounding"]["answer_box"]["box"] == pytest.approx(expected_box())


@pytest.mark.parametrize(("extra", "code"), [
    ({"video_id": "0" * 64}, "invalid_request"),       # one source only
    ({"async": True}, "invalid_request"),              # jobs are for videos
    ({"image": "data:image/png;base64,AAAA"}, "invalid_image"),
])
async def test_bad_image_requests(gateway: Gateway, extra: dict[str, object], code: str) -> None:
    backend = ScriptedBackend([ANSWER])
    async with gateway(backend) as c:
        r = await c.post("/v1/reason", json={"image": png(), "question": "Q?"} | extra)
    assert r.status_code == 400 and r.json()["error"]["code"] == code, r.text
    assert backend.calls == []
