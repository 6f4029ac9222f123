"""Regressions found in the whole-repository review: what a demanding client hit.

Each test names the bug it guards. In-process app, real PyAV video, ScriptedBackend.
"""

from __future__ import annotations

import asyncio
import base64
import os
from pathlib import Path
from typing import Any

import pytest

from service.api.openai.service import _decoded_chunks
from service.app import WEB_DIR
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway, upload, wait_job
from tests.integration.gateway.test_errors_and_faults import assert_error


async def test_async_request_gets_a_job_even_when_cached(gateway: Gateway,
                                                         video_path: Path) -> None:
    # bug: a cached answer was returned as 200 to a client that asked for 202 + job id
    async with gateway(cache_ttl_s=60) as c:
        video = await upload(c, video_path)
        body = {"video_id": video["id"], "question": "Which?"}
        assert (await c.post("/v1/reason", json=body)).status_code == 200  # now cached
        r = await c.post("/v1/reason", json={**body, "async": True})
        assert r.status_code == 202, r.text
        job = await wait_job(c, r.json()["job_id"])
    assert job["status"] == "done" and job["result"]["cached"] is True


async def test_job_waits_for_a_slot_instead_of_failing_429(gateway: Gateway,
                                                           video_path: Path) -> None:
    # bug: with the one slot busy and no queue, a job failed with too_many_requests
    backend = ScriptedBackend([TRACE], delay=0.4)
    async with gateway(backend, max_concurrency=1, max_queue=0) as c:
        video = await upload(c, video_path)
        busy = asyncio.create_task(c.post("/v1/reason", json={
            "video_id": video["id"], "question": "busy?"}))
        while not backend.calls:  # the sync request holds the slot
            await asyncio.sleep(0.01)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "job?",
                                             "async": True})
        assert r.status_code == 202, r.text
        # a second sync request is still refused at once: the 429 is for clients
        assert_error(await c.post("/v1/reason", json={
            "video_id": video["id"], "question": "third?"}), 429, "too_many_requests")
        assert (await busy).status_code == 200
        job = await wait_job(c, r.json()["job_id"])
    assert job["status"] == "done", job


# (method, path, status, code) -- the router's answer, not the web page's file lookup
ROUTING = [
    ("GET", "/v1/reason", 405, "method_not_allowed"),  # POST-only route: 405, not 404
    ("GET", "/v1/chat/completions", 405, "method_not_allowed"),  # same for the OpenAI route
    ("DELETE", "/v1/models", 405, "method_not_allowed"),  # GET-only route
    ("POST", "/health", 405, "method_not_allowed"),  # health is GET-only
    ("GET", "/v1/no-such-route", 404, "not_found"),  # unknown API path: 404 in our shape
]


@pytest.mark.parametrize(("method", "path", "status", "code"), ROUTING)
async def test_routing_errors_keep_the_shape(gateway: Gateway, method: str, path: str,
                                             status: int, code: str) -> None:
    async with gateway() as c:
        r = await c.request(method, path)
        assert_error(r, status, code)
        if status == 405:
            assert r.headers.get("allow")


@pytest.mark.skipif(not WEB_DIR.is_dir(), reason="no service/web page in this checkout")
async def test_web_page_still_served_at_root(gateway: Gateway) -> None:
    async with gateway() as c:
        r = await c.get("/")
    assert r.status_code == 200 and "text/html" in r.headers["content-type"]


# (where, request kwargs) -- an invalid `task` is a 400 naming `task` on every surface
BAD_TASK: list[tuple[str, dict[str, Any]]] = [
    ("/v1/reason", {"json": {"video_id": "0" * 64, "question": "q", "task": "summary"}}),
    ("/v1/reason", {"data": {"question": "q", "task": "MCQ"}}),  # multipart, wrong case
    ("/v1/chat/completions", {"json": {"model": "m", "task": "", "messages": [
        {"role": "user", "content": "q"}]}}),
]


@pytest.mark.parametrize(("path", "kwargs"), BAD_TASK)
async def test_invalid_task_is_400_with_param(gateway: Gateway, video_path: Path, path: str,
                                              kwargs: dict[str, Any]) -> None:
    async with gateway() as c:
        if "data" in kwargs:
            kwargs = {**kwargs, "files": {"file": ("v.mp4", video_path.read_bytes())}}
        err = assert_error(await c.post(path, **kwargs), 400, "invalid_request")
    assert err["param"] == "task"


async def test_chat_body_that_is_not_json_has_a_clean_message(gateway: Gateway) -> None:
    # bug: the message started with "None: " (no field to name)
    async with gateway() as c:
        err = assert_error(await c.post("/v1/chat/completions", content=b"nope",
                                        headers={"content-type": "application/json"}),
                           400, "invalid_request")
    assert err["param"] is None and not err["message"].startswith("None")


async def test_large_video_data_url_decodes_in_chunks() -> None:
    # bug: 1 MiB * 4 // 3 base64 characters per slice is not a multiple of 4, so every
    # data:video URL over ~1 MiB failed with "invalid base64"
    raw = os.urandom(3 * 1024 * 1024 + 7)
    url = "data:video/mp4;base64," + base64.b64encode(raw).decode()
    assert b"".join([chunk async for chunk in _decoded_chunks(url)]) == raw


# (multipart options as sent, the options the request means)
OPTIONS_FORMS: list[tuple[Any, list[str]]] = [
    (["A. red", "B. blue"], ["A. red", "B. blue"]),  # repeated form fields
    ('["A. red", "B. blue"]', ["A. red", "B. blue"]),  # one JSON array string
]


@pytest.mark.parametrize(("sent", "meant"), OPTIONS_FORMS)
async def test_multipart_options_forms(gateway: Gateway, video_path: Path, sent: Any,
                                       meant: list[str]) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        r = await c.post("/v1/reason", files={"file": ("v.mp4", video_path.read_bytes())},
                         data={"question": "Which colour?", "options": sent})
        assert r.status_code == 200, r.text
    prompt_text = " ".join(getattr(p, "text", "") for p in backend.calls[0].prompt.user)
    assert all(option in prompt_text for option in meant)
    assert r.json()["task"] == "mcq"


# (form field, its text) -- a form field that must be JSON and is not: 400 naming it
BAD_JSON_FIELDS = [
    ("options", "[A. red, B. blue"),  # a JSON array string, torn
    ("frames", "{num_frames: 2}"),  # unquoted key
    ("sampling", "temperature=0"),  # not JSON at all
]


@pytest.mark.parametrize(("field", "text"), BAD_JSON_FIELDS)
async def test_multipart_bad_json_field_names_it(gateway: Gateway, video_path: Path,
                                                 field: str, text: str) -> None:
    async with gateway() as c:
        r = await c.post("/v1/reason", files={"file": ("v.mp4", video_path.read_bytes())},
                         data={"question": "Which colour?", field: text})
        err = assert_error(r, 400, "invalid_request")
    assert err["param"] == field


# (frames options, settings overrides, how many frames the 12 s 5 fps video gets)
FRAMES_OPTIONS: list[tuple[dict[str, Any], dict[str, Any], int]] = [
    ({"num_frames": 3}, {}, 3),  # a count alone: uniform
    ({"fps": 0.5}, {}, 6),  # a rate alone: every 2 s of 12 s
    ({"fps": 1.0, "num_frames": 5}, {}, 5),  # both: at 1 fps (12 points), at most 5
    ({"fps": 0.25, "num_frames": 16}, {}, 3),  # both, under the cap: the rate decides
    ({}, {"default_fps": 1.0, "default_num_frames": 4}, 4),  # settings' pair combines too
    ({"num_frames": 5}, {"default_fps": 1.0}, 5),  # a count alone ignores a default fps
]


@pytest.mark.parametrize(("frames", "settings", "count"), FRAMES_OPTIONS)
async def test_frames_options_combine(gateway: Gateway, long_video_path: Path,
                                      frames: dict[str, Any], settings: dict[str, Any],
                                      count: int) -> None:
    async with gateway(sync_max_duration_s=60.0, **settings) as c:
        video = await upload(c, long_video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                             "frames": {**frames, "min_pixels": 3136},
                                             "n": 1})
    assert r.status_code == 200, r.text
    assert len(r.json()["frames"]["times"]) == count
