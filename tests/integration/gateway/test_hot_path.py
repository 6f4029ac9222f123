"""What the gateway's hot-path shortcuts must not weaken: every /v1 operation still
demands the key (in the one error shape, with a request id, counted under its route
template), and the per-body memo of parsed JSON requests never answers for a request
it should not (a deleted video, a refused parameter, other settings)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from service.api.reason.service import MEMO_MAX_BODY, ReasonService
from service.inference.doubles import ScriptedBackend
from tests.integration.gateway.conftest import TRACE, Gateway, upload
from tests.integration.gateway.test_errors_and_faults import assert_error

KEY = "hot-path-key"
AUTH = {"Authorization": f"Bearer {KEY}"}
DUMMY = {"video_id": "0" * 64, "job_id": "job_0"}


def operations(client: httpx.AsyncClient) -> list[tuple[str, str]]:
    """(method, path) of every /v1 operation in the app's OpenAPI schema."""
    schema: dict[str, Any] = client.app.openapi()  # type: ignore[attr-defined]
    out = []
    for path, ops in schema["paths"].items():
        if path.startswith("/v1/"):
            out.extend((m.upper(), path.format(**DUMMY)) for m in ops)
    return out


async def test_every_v1_operation_demands_the_key(gateway: Gateway) -> None:
    async with gateway(api_keys=KEY) as c:
        ops = operations(c)
        assert ("POST", "/v1/reason") in ops and len(ops) >= 8
        for method, path in ops:
            missing = await c.request(method, path)
            assert_error(missing, 401, "missing_api_key")
            assert missing.headers["www-authenticate"] == "Bearer", (method, path)
            wrong = await c.request(method, path, headers={"Authorization": "Bearer nope"})
            assert_error(wrong, 401, "invalid_api_key")
        # with the key the same routes answer something else than 401
        assert (await c.get("/v1/models", headers=AUTH)).status_code == 200
        refused = await c.post("/v1/reason", json={"question": "q"}, headers=AUTH)
        assert refused.status_code == 400
        metrics = (await c.get("/metrics")).text
    # 401s are still counted under the route template, not as "unmatched"
    assert ('o3_http_requests_total{method="POST",route="/v1/reason",status="401"} 2.0'
            in metrics)
    assert ('o3_http_requests_total{method="GET",route="/v1/videos/{video_id}",'
            'status="401"} 2.0' in metrics)


@pytest.mark.parametrize(("method", "path", "status", "code"), [
    # routing comes before the key check, as with the former dependency:
    ("GET", "/v1/nothing-here", 404, "not_found"),       # unknown /v1 path
    ("GET", "/v1/reason", 405, "method_not_allowed"),    # known path, wrong method
])
async def test_routing_answers_before_the_key_check(
    gateway: Gateway, method: str, path: str, status: int, code: str
) -> None:
    async with gateway(api_keys=KEY) as c:
        r = await c.request(method, path)
    assert r.status_code == status and r.json()["error"]["code"] == code


async def reason(c: httpx.AsyncClient, body: bytes) -> httpx.Response:
    return await c.post("/v1/reason", content=body,
                        headers={"content-type": "application/json"})


def request_body(video_id: str, **extra: Any) -> bytes:
    import json

    return json.dumps({"video_id": video_id, "question": "Which? A. x B. y", "n": 2,
                       **extra}).encode()


async def test_repeated_body_is_parsed_once_and_answered_from_the_cache(
    gateway: Gateway, video_path: Path
) -> None:
    backend = ScriptedBackend([TRACE])
    async with gateway(backend) as c:
        svc: ReasonService = c.app.state.services.reason  # type: ignore[attr-defined]
        video = await upload(c, video_path)
        body = request_body(video["id"])
        first, second, third = [await reason(c, body) for _ in range(3)]
        info = svc._parse_memo.cache_info()  # type: ignore[attr-defined]
    assert [r.status_code for r in (first, second, third)] == [200, 200, 200]
    assert [r.json()["cached"] for r in (first, second, third)] == [False, True, True]
    # each answer has its own ids; the result is the same
    assert len({r.json()["request_id"] for r in (first, second, third)}) == 3
    assert second.json()["answer"] == first.json()["answer"] == "A"
    assert sum(call.kind == "sample" for call in backend.calls) == 1
    assert (info.misses, info.hits) == (1, 2)


async def test_memo_never_answers_what_must_be_refused(
    gateway: Gateway, video_path: Path
) -> None:
    async with gateway(max_n=4) as c:
        video = await upload(c, video_path)
        # a refused parameter is refused every time (never remembered as valid)
        too_many = request_body(video["id"], n=5)
        for _ in range(2):
            assert_error(await reason(c, too_many), 400, "n_too_large")
        # an invalid body is refused every time
        for _ in range(2):
            assert_error(await reason(c, b'{"video_id": 1}'), 400, "invalid_request")
        # a remembered body whose video was deleted since: 404, not the cached answer
        body = request_body(video["id"])
        assert (await reason(c, body)).status_code == 200
        assert (await c.delete(f"/v1/videos/{video['id']}")).status_code in (200, 204)
        assert_error(await reason(c, body), 404, "video_not_found")


async def test_long_bodies_are_not_remembered_but_still_served(
    gateway: Gateway, video_path: Path
) -> None:
    async with gateway() as c:
        svc: ReasonService = c.app.state.services.reason  # type: ignore[attr-defined]
        video = await upload(c, video_path)
        long_q = "Which one? " + "really " * 1100  # under the 8000-character limit
        options = [f"{chr(65 + i)}. " + "an option " * 5 for i in range(10)]
        body = request_body(video["id"], question=long_q, options=options)
        assert len(body) > MEMO_MAX_BODY
        answers = [await reason(c, body) for _ in range(2)]
        info = svc._parse_memo.cache_info()  # type: ignore[attr-defined]
    assert [r.json()["cached"] for r in answers] == [False, True]
    assert info.currsize == 0


async def test_memo_is_per_service_so_settings_change_the_key(
    gateway: Gateway, video_path: Path
) -> None:
    # the same bytes under other default settings must not share a cache key
    keys = []
    for default_n in (2, 3):
        async with gateway(default_n=default_n) as c:
            svc: ReasonService = c.app.state.services.reason  # type: ignore[attr-defined]
            video = await upload(c, video_path)
            body = b'{"video_id": "%s", "question": "q"}' % video["id"].encode()
            keys.append(svc.parse_json(body)[1])
    assert None not in keys and keys[0] != keys[1]
