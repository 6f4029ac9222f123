"""With O3_WORKERS=2 both worker processes derive video ids from ONE key (the
id-secret file in the data dir is published atomically), so an id issued by one worker
is found by the other; a per-process key would make half of these lookups 404."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from service.video.synth import write_moving_square
from tests.hostile.conftest import process_gateway


def test_ids_agree_across_workers(tmp_path: Path) -> None:
    video = tmp_path / "v.mp4"
    write_moving_square(video, duration=1.0)
    with process_gateway(tmp_path / "gw", {"O3_WORKERS": "2"}) as gw:
        with video.open("rb") as f:
            vid = httpx.post(f"{gw.url}/v1/videos", files={"file": ("v.mp4", f)}).json()["id"]

        def look(_: int) -> int:  # a fresh connection each time: either worker answers
            return httpx.get(f"{gw.url}/v1/videos/{vid}", timeout=30).status_code

        with ThreadPoolExecutor(8) as pool:
            assert set(pool.map(look, range(40))) == {200}
        assert len(list((tmp_path / "gw" / "data").glob("id-secret*"))) == 1  # no temp left
