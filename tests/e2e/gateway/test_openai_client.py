"""`python -m service` driven by the official openai client (sync, async, streaming)
and by curl with a multipart upload."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import httpx
import openai
import pytest

from tests.e2e.gateway.conftest import Gateway


def upload(gw: Gateway, path: Path) -> str:
    with path.open("rb") as f:
        r = httpx.post(f"{gw.url}/v1/videos", files={"file": ("v.mp4", f)}, headers=gw.headers,
                       timeout=30)
    assert r.status_code in (200, 201), r.text
    return str(r.json()["id"])


def messages(video_id: str) -> list[dict[str, object]]:
    return [{"role": "user", "content": [
        {"type": "video_url", "video_url": {"url": f"video://{video_id}"}},
        {"type": "text", "text": "Which way does it move? A. right B. left"}]}]


def test_sync_client(scripted_gateway: Gateway, video_file: Path) -> None:
    gw = scripted_gateway
    client = openai.OpenAI(base_url=f"{gw.url}/v1", api_key=gw.key)
    assert [m.id for m in client.models.list().data] == ["scripted-double"]
    resp = client.chat.completions.create(model="scripted-double", n=4,
                                          messages=messages(upload(gw, video_file)))  # type: ignore[arg-type]
    assert resp.choices[0].message.content == "A"
    grounding = resp.model_extra["grounding"]  # type: ignore[index]
    assert grounding["evidence"][0]["object"] == "square"
    assert grounding["frames"]["original_size"] == [160, 120]


async def test_async_client_and_stream(scripted_gateway: Gateway, video_file: Path) -> None:
    gw = scripted_gateway
    client = openai.AsyncOpenAI(base_url=f"{gw.url}/v1", api_key=gw.key)
    video_id = upload(gw, video_file)
    resp = await client.chat.completions.create(model="m", messages=messages(video_id),  # type: ignore[arg-type]
                                                max_completion_tokens=128)
    assert resp.choices[0].message.content == "A"
    stream = await client.chat.completions.create(model="m", messages=messages(video_id),  # type: ignore[arg-type]
                                                  stream=True)
    chunks = [c async for c in stream]
    # OpenAI's quickstart loop: every chunk has a choice, no usage unless asked for
    assert "".join(c.choices[0].delta.content or "" for c in chunks) == "A"
    assert all(c.usage is None for c in chunks)
    stream = await client.chat.completions.create(model="m", messages=messages(video_id),  # type: ignore[arg-type]
                                                  stream=True,
                                                  stream_options={"include_usage": True})
    chunks = [c async for c in stream]
    assert chunks[-1].choices == []
    assert chunks[-1].usage is not None and chunks[-1].usage.total_tokens > 0


def test_wrong_key_is_openai_auth_error(scripted_gateway: Gateway) -> None:
    client = openai.OpenAI(base_url=f"{scripted_gateway.url}/v1", api_key="wrong")
    with pytest.raises(openai.AuthenticationError):
        client.models.list()


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_multipart_reason(scripted_gateway: Gateway, video_file: Path) -> None:
    gw = scripted_gateway
    out = subprocess.run(
        ["curl", "-sS", "-H", f"Authorization: Bearer {gw.key}", "-F", f"file=@{video_file}",
         "-F", "question=Which way? A. right B. left", "-F", "n=3", "-F", "return_traces=true",
         f"{gw.url}/v1/reason"], capture_output=True, check=True, timeout=60)
    body = json.loads(out.stdout)
    assert body["answer"] == "A" and len(body["traces"]) == 3
    assert body["random_tiny_model"] is False


def test_metrics_after_traffic(scripted_gateway: Gateway) -> None:
    text = httpx.get(f"{scripted_gateway.url}/metrics", timeout=10).text
    assert 'o3_http_requests_total{method="POST",route="/v1/chat/completions",status="200"}' \
        in text
    assert "o3_stage_duration_seconds_bucket" in text
