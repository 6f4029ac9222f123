"""Pure parts of the body limits, the lifted data URLs and the tenant quotas."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.api.body import (
    FORM_OVERHEAD,
    JSON_REASON_BODY,
    SMALL_BODY,
    BodyBudget,
    body_cap,
    declared_length,
)
from service.api.openai.blobs import lift_data_urls
from service.errors import ApiError
from service.security.auth import Principal, authenticate, key_table
from service.security.quotas import TenantQuotas
from service.settings import Settings

S = Settings(_env_file=None, data_dir=Path("/tmp/x"), env="dev")  # type: ignore[call-arg]


@pytest.mark.parametrize(("method", "path", "ctype", "cap"), [
    ("POST", "/v1/videos", "multipart/form-data; boundary=x", S.max_upload_bytes + FORM_OVERHEAD),
    ("POST", "/v1/reason", "multipart/form-data; boundary=x", S.max_upload_bytes + FORM_OVERHEAD),
    ("POST", "/v1/reason", "application/json", JSON_REASON_BODY),
    ("POST", "/v1/reason", "text/plain", JSON_REASON_BODY),  # refused later (415), capped now
    ("POST", "/v1/chat/completions", "application/json", S.max_chat_body_bytes),
    ("POST", "/v1/jobs/job_1/cancel", "", SMALL_BODY),  # the body is never used
    ("DELETE", "/v1/videos/" + "a" * 64, "", SMALL_BODY),
    ("GET", "/v1/videos", "multipart/form-data", SMALL_BODY),  # only POST uploads
    ("POST", "/v1/unknown", "application/json", SMALL_BODY),
])
def test_caps_by_route_and_type(method: str, path: str, ctype: str, cap: int) -> None:
    assert body_cap(method, path, ctype, S) == cap


@pytest.mark.parametrize(("header", "value"), [
    (None, None), (b"12", 12), (b" 7 ", 7), (b"0", 0),
    (b"-1", ApiError), (b"1e9", ApiError), (b"", ApiError), (b"9" * 20, ApiError)])
def test_declared_length(header: bytes | None, value: object) -> None:
    scope = {"headers": [(b"content-length", header)] if header is not None else []}
    if value is ApiError:
        with pytest.raises(ApiError):
            declared_length(scope)
    else:
        assert declared_length(scope) == value


def test_budget_refuses_beyond_its_limit_and_frees() -> None:
    b = BodyBudget(100)
    b.take(60)
    with pytest.raises(ApiError) as err:
        b.take(41)
    assert err.value.status == 503 and err.value.headers["Retry-After"] == "1"
    b.give(60)
    b.take(100)
    assert b.held == 100
    with pytest.raises(ApiError) as err:
        BodyBudget(100).take(101)  # could never fit: 413, not "retry later"
    assert err.value.status == 413


def _lift(doc: object, min_len: int = 16) -> tuple[object, list[bytes]]:
    raw = bytearray(json.dumps(doc).encode())
    text, blobs = lift_data_urls(raw, min_len=min_len)
    parsed = json.loads(text)
    views = [bytes(v) for v in blobs.views]
    return parsed, views


def test_big_data_urls_are_lifted_and_resolved() -> None:
    url = "data:video/mp4;base64," + "A" * 40
    doc = {"messages": [{"content": [{"type": "text", "text": "q"},
                                     {"video_url": {"url": url}}]}]}
    raw = bytearray(json.dumps(doc).encode())
    text, blobs = lift_data_urls(raw, min_len=16)
    placeholder = json.loads(text)["messages"][0]["content"][1]["video_url"]["url"]
    assert placeholder.startswith("o3blob:") and len(text) < len(raw)
    assert bytes(blobs.resolve(placeholder)) == url.encode()
    assert blobs.lookup("o3blob:guess:0") is None  # the token is per request
    assert bytes(blobs.resolve("video://x")) == b"video://x"


@pytest.mark.parametrize("doc", [
    {"url": "data:short"},  # under the size threshold: parsed normally
    {"text": 'he said \\"data:video/mp4;base64,' + "A" * 40 + '\\"'},  # inside a string
    {"url": "data:video/mp4;base64," + "A" * 20 + "\\/" + "A" * 20},  # has an escape
    {"url": "data:video/mp4;base64," + "A" * 20 + "\u00e9" + "A" * 20},  # \\u escape
], ids=["short", "quoted-in-text", "escaped-slash", "unicode-escape"])
def test_what_is_not_lifted_is_unchanged(doc: dict[str, str]) -> None:
    parsed, views = _lift(doc)
    assert parsed == doc and views == []


def test_tenants_of_keys() -> None:
    s = Settings(_env_file=None, data_dir=Path("/tmp/x"), env="dev",  # type: ignore[call-arg]
                 api_keys="solo", api_key_tenants="k1=acme,k2=acme,k3=globex", admin_keys="root")
    table = key_table(s)
    assert authenticate(table, "Bearer k1") == authenticate(table, "Bearer k2") == Principal("acme")
    assert authenticate(table, "Bearer k3").tenant == "globex"
    solo = authenticate(table, "Bearer solo")
    assert solo.tenant.startswith("key-") and "solo" not in solo.tenant  # never the key
    assert authenticate(table, "Bearer root") == Principal("admin", admin=True)
    with pytest.raises(ApiError):
        authenticate(table, "Bearer nope")
    with pytest.raises(ValueError, match="key=tenant"):
        Settings(_env_file=None, api_key_tenants="k1", env="dev")  # type: ignore[call-arg]


def test_request_rate_bucket(monkeypatch: pytest.MonkeyPatch) -> None:
    now = [100.0]
    monkeypatch.setattr("service.security.quotas.time.monotonic", lambda: now[0])
    q = TenantQuotas(rpm=60, max_concurrency=0)  # one token per second, 60 at most
    for _ in range(60):
        q.charge_request("a")
    with pytest.raises(ApiError) as err:
        q.charge_request("a")
    assert err.value.code == "tenant_rate_limited" and err.value.headers["Retry-After"] == "1"
    q.charge_request("b")  # tenants have their own buckets
    now[0] += 1.0
    q.charge_request("a")  # refilled one token
    with pytest.raises(ApiError):
        q.charge_request("a")
