"""Tenants: one key cannot touch another tenant's videos, jobs or cached results, for
every route that takes an id; admins see all; per-tenant quotas answer 429.

acme and globex are two tenants (O3_API_KEY_TENANTS), ADMIN_KEY an admin key.
"""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx

from service.inference.doubles import ScriptedBackend
from tests.hostile.conftest import ADMIN_KEY, TRACE, Gateway, assert_error, auth, tenant_settings

ACME, GLOBEX = auth("acme-key-0123456789"), auth("globex-key-0123456789")
ADMIN = auth(ADMIN_KEY)


async def _upload(c: httpx.AsyncClient, path: Path, who: dict[str, str]) -> dict[str, Any]:
    with path.open("rb") as f:
        r = await c.post("/v1/videos", files={"file": ("v.mp4", f, "video/mp4")}, headers=who)
    assert r.status_code in (200, 201), r.text
    body: dict[str, Any] = r.json()
    return body


def _chat(vid: str, question: str = "what?") -> dict[str, Any]:
    return {"model": "m", "messages": [{"role": "user", "content": [
        {"type": "text", "text": question},
        {"type": "video_url", "video_url": {"url": f"video://{vid}"}}]}]}


async def test_video_routes_are_scoped(gateway: Gateway, video_path: Path) -> None:
    async with gateway(**tenant_settings()) as c:
        a = await _upload(c, video_path, ACME)
        b = await _upload(c, video_path, GLOBEX)  # the same file
        assert a["id"] != b["id"]  # same bytes, different tenants: different ids
        vid = a["id"]
        assert_error(await c.get(f"/v1/videos/{vid}", headers=GLOBEX), 404, "video_not_found")
        r = await c.post("/v1/reason", json={"video_id": vid, "question": "q"}, headers=GLOBEX)
        assert_error(r, 404, "video_not_found")
        r = await c.post("/v1/chat/completions", json=_chat(vid), headers=GLOBEX)
        assert_error(r, 404, "video_not_found")
        assert_error(await c.delete(f"/v1/videos/{vid}", headers=GLOBEX), 404, "video_not_found")
        # still there for its owner, and the admin sees it
        assert (await c.get(f"/v1/videos/{vid}", headers=ACME)).status_code == 200
        assert (await c.get(f"/v1/videos/{vid}", headers=ADMIN)).status_code == 200
        # globex's own copy is untouched by acme's delete
        assert (await c.delete(f"/v1/videos/{vid}", headers=ACME)).status_code == 204
        assert (await c.get(f"/v1/videos/{b['id']}", headers=GLOBEX)).status_code == 200
        assert_error(await c.get(f"/v1/videos/{vid}", headers=ACME), 404, "video_not_found")


async def test_job_routes_are_scoped(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE], delay=1.0)
    async with gateway(backend, **tenant_settings()) as c:
        vid = (await _upload(c, video_path, ACME))["id"]
        r = await c.post("/v1/reason", json={"video_id": vid, "question": "q", "async": True},
                         headers=ACME)
        assert r.status_code == 202
        job = r.json()["job_id"]
        assert_error(await c.get(f"/v1/jobs/{job}", headers=GLOBEX), 404, "job_not_found")
        assert_error(await c.post(f"/v1/jobs/{job}/cancel", headers=GLOBEX), 404, "job_not_found")
        assert_error(await c.delete(f"/v1/jobs/{job}", headers=GLOBEX), 404, "job_not_found")
        assert (await c.get(f"/v1/jobs/{job}", headers=ADMIN)).status_code == 200
        deadline = asyncio.get_running_loop().time() + 20
        while True:
            state = (await c.get(f"/v1/jobs/{job}", headers=ACME)).json()
            if state["status"] in ("done", "failed", "cancelled"):
                break
            assert asyncio.get_running_loop().time() < deadline, state
            await asyncio.sleep(0.05)
        assert state["status"] == "done"  # globex's cancel did not touch it
        assert state["result"]["video_id"] == vid


async def test_cached_results_are_not_shared(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend, **tenant_settings()) as c:
        a = (await _upload(c, video_path, ACME))["id"]
        b = (await _upload(c, video_path, GLOBEX))["id"]
        q = {"question": "same question", "n": 2}
        first = await c.post("/v1/reason", json={"video_id": a, **q}, headers=ACME)
        again = await c.post("/v1/reason", json={"video_id": a, **q}, headers=ACME)
        other = await c.post("/v1/reason", json={"video_id": b, **q}, headers=GLOBEX)
        assert [first.json()["cached"], again.json()["cached"]] == [False, True]
        assert other.json()["cached"] is False  # globex never gets acme's entry
        frames = {"model": "m", "messages": [{"role": "user", "content": [
            {"type": "text", "text": "q"},
            {"type": "image_url", "image_url": {"url": _png()}}]}]}
        one = await c.post("/v1/chat/completions", json=frames, headers=ACME)
        two = await c.post("/v1/chat/completions", json=frames, headers=GLOBEX)
        assert one.status_code == two.status_code == 200, (one.text, two.text)
        assert two.json()["grounding"]["cached"] is False


def _png() -> str:
    import base64
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


async def test_request_rate_quota(gateway: Gateway) -> None:
    async with gateway(tenant_rpm=5, **tenant_settings()) as c:
        codes = [(await c.get("/v1/models", headers=ACME)).status_code for _ in range(8)]
        assert codes[:5] == [200] * 5 and set(codes[5:]) == {429}
        r = await c.get("/v1/models", headers=ACME)
        assert_error(r, 429, "tenant_rate_limited")
        assert int(r.headers["retry-after"]) >= 1
        metrics = (await c.get("/metrics")).text
        assert 'o3_rejected_requests_total{reason="tenant_rate"} 4.0' in metrics
        # another tenant and the admin are not charged for acme's requests
        assert (await c.get("/v1/models", headers=GLOBEX)).status_code == 200
        assert (await c.get("/v1/models", headers=ADMIN)).status_code == 200


async def test_concurrent_inference_quota(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE], delay=1.0)
    async with gateway(backend, tenant_max_concurrency=1, **tenant_settings()) as c:
        a = (await _upload(c, video_path, ACME))["id"]
        b = (await _upload(c, video_path, GLOBEX))["id"]
        answers = await asyncio.gather(
            c.post("/v1/reason", json={"video_id": a, "question": "one"}, headers=ACME),
            c.post("/v1/reason", json={"video_id": a, "question": "two"}, headers=ACME),
            c.post("/v1/reason", json={"video_id": b, "question": "one"}, headers=GLOBEX))
        acme = sorted(r.status_code for r in answers[:2])
        assert acme == [200, 429], [r.text[:200] for r in answers]
        assert_error(next(r for r in answers[:2] if r.status_code == 429), 429,
                     "tenant_concurrency_limit")
        assert answers[2].status_code == 200  # globex has its own quota


async def test_stored_bytes_quota(gateway: Gateway, video_path: Path, tmp_path: Path) -> None:
    size = video_path.stat().st_size
    second = tmp_path / "second.mp4"
    second.write_bytes(video_path.read_bytes() + b"\0")  # other bytes, still a video
    async with gateway(tenant_max_stored_bytes=size + size // 2, **tenant_settings()) as c:
        await _upload(c, video_path, ACME)
        with second.open("rb") as f:
            r = await c.post("/v1/videos", files={"file": ("v.mp4", f)}, headers=ACME)
        assert_error(r, 429, "tenant_storage_quota")
        await _upload(c, second, GLOBEX)  # another tenant's bytes are its own


async def test_a_job_waits_for_its_tenants_quota(gateway: Gateway, video_path: Path) -> None:
    backend = ScriptedBackend([TRACE], delay=1.0)
    async with gateway(backend, tenant_max_concurrency=1, **tenant_settings()) as c:
        a = (await _upload(c, video_path, ACME))["id"]
        sync = asyncio.create_task(c.post("/v1/reason", json={"video_id": a, "question": "s"},
                                          headers=ACME))
        await asyncio.sleep(0.3)  # the sync request holds acme's one slot
        r = await c.post("/v1/reason", json={"video_id": a, "question": "j", "async": True},
                         headers=ACME)
        job = r.json()["job_id"]
        assert (await sync).status_code == 200
        deadline = asyncio.get_running_loop().time() + 20
        while (state := (await c.get(f"/v1/jobs/{job}", headers=ACME)).json())["status"] \
                not in ("done", "failed", "cancelled"):
            assert asyncio.get_running_loop().time() < deadline, state
            await asyncio.sleep(0.05)
        assert state["status"] == "done"  # waited its turn, never refused with a 429
