"""Serving a trained checkpoint: its training_config.json frame policy is the default
(a request's `frames` still win; explicit O3_DEFAULT_* settings win too)."""

from __future__ import annotations

import json
from pathlib import Path

import httpx

from service.app import create_app
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, settings_for, upload

DATA = {"num_frames": 6, "short_video_s": 1.0, "short_fps": 2.0, "min_frames": 4,
        "max_frames": 64, "min_pixels": 3136, "max_pixels": 50176}


def trained_dir(root: Path) -> Path:
    root.mkdir()
    (root / "config.json").write_text(json.dumps({"model_type": "qwen2_5_vl"}))
    (root / "training_config.json").write_text(json.dumps({"stage": "rl", "data": DATA}))
    return root


async def frames_for(tmp_path: Path, video: Path, body: dict[str, object],
                     **settings: object) -> dict[str, object]:
    s = settings_for(tmp_path, checkpoint=str(trained_dir(tmp_path / "ckpt")), **settings)
    app = create_app(s, backend=ScriptedBackend([TRACE]))
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://gw") as c:
            vid = (await upload(c, video))["id"]
            r = await c.post("/v1/reason", json={"video_id": vid, "question": "Q?", "n": 1}
                             | body)
    assert r.status_code == 200, r.text
    frames: dict[str, object] = r.json()["frames"]
    return frames


async def test_training_frame_policy_is_the_default(tmp_path: Path, video_path: Path) -> None:
    # 2 s video: the settings' default would take the short-video rule (2 fps, >= 4 frames);
    # the checkpoint was trained with short_video_s=1.0, so 6 uniform frames, <= 50,176 px
    frames = await frames_for(tmp_path, video_path, {})
    times, (w, h) = frames["times"], frames["fed_size"]
    assert isinstance(times, list) and len(times) == 6
    assert w * h <= 50176


async def test_request_frames_override_the_checkpoint(tmp_path: Path, video_path: Path) -> None:
    frames = await frames_for(tmp_path, video_path, {"frames": {"num_frames": 5}})
    assert isinstance(frames["times"], list) and len(frames["times"]) == 5


async def test_operator_settings_override_the_checkpoint(tmp_path: Path,
                                                         video_path: Path) -> None:
    frames = await frames_for(tmp_path, video_path, {}, default_num_frames=3)
    assert isinstance(frames["times"], list) and len(frames["times"]) == 4  # short rule, >= 4
