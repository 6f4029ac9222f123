"""The backend's image limit (O3_MAX_IMAGES = vLLM's --limit-mm-per-prompt) and the
pixel floor, checked by the gateway at request time: a 400 that names the limit
instead of a vLLM refusal after the frames were decoded and sent."""

from __future__ import annotations

from pathlib import Path

from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway, upload


async def test_num_frames_over_the_limit_is_a_400_naming_it(gateway: Gateway,
                                                            long_video_path: Path) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, max_images=12, default_num_frames=8,
                       sync_max_duration_s=30.0) as c:
        video = await upload(c, long_video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                             "frames": {"num_frames": 13}})
        ok = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                              "frames": {"num_frames": 12}, "n": 1})
    assert r.status_code == 400, r.text
    error = r.json()["error"]
    assert error["code"] == "too_many_frames" and error["param"] == "frames.num_frames"
    assert "image limit of 12" in error["message"] and "O3_MAX_IMAGES" in error["message"]
    assert ok.status_code == 200
    assert [c.image_count for c in backend.calls if c.kind == "sample"] == [12]


async def test_fixed_fps_is_capped_at_the_limit(gateway: Gateway,
                                                long_video_path: Path) -> None:
    """12 s at 4 fps would be 48 frames: thinned to the limit, not refused."""
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, max_images=10, default_num_frames=8,
                       sync_max_duration_s=30.0) as c:
        video = await upload(c, long_video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                             "frames": {"fps": 4.0}, "n": 1})
    assert r.status_code == 200, r.text
    assert len(r.json()["frames"]["times"]) == 10
    assert [c.image_count for c in backend.calls if c.kind == "sample"] == [10]


async def test_min_pixels_below_qwens_floor_is_refused(gateway: Gateway,
                                                       video_path: Path) -> None:
    async with gateway() as c:
        video = await upload(c, video_path)
        r = await c.post("/v1/reason", json={"video_id": video["id"], "question": "Which?",
                                             "frames": {"min_pixels": 784}})
    assert r.status_code == 400 and "3136" in r.text
