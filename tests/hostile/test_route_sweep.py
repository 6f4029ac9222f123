"""Every route, broken inputs of every shape: never a 500, always the one error shape.

The inputs are generated here: JSON of every type and nesting, wrong wire types
(`n: "2"`, `n: true`), fields at and over their limits, malformed multipart (wrong
boundary, garbage, a 100 KB part header, truncated, two files, ...), wrong content
types and methods, odd ids, and seeded random JSON documents. Each answer must be
a documented status (< 500, or 503/504 where a dependency is named) in the error shape
of docs/API.md.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.hostile.conftest import Gateway, assert_error

VID = "a" * 64
ROUTES = [("POST", "/v1/videos"), ("GET", f"/v1/videos/{VID}"), ("DELETE", f"/v1/videos/{VID}"),
          ("POST", "/v1/reason"), ("GET", "/v1/jobs/job_x"), ("POST", "/v1/jobs/job_x/cancel"),
          ("DELETE", "/v1/jobs/job_x"), ("POST", "/v1/chat/completions"), ("GET", "/v1/models"),
          ("GET", "/health"), ("GET", "/ready"), ("GET", "/metrics")]


def json_shapes() -> list[bytes]:
    """Bodies that are not a request object, or not JSON at all."""
    deep = b"[" * 5000 + b"]" * 5000
    return [b"", b"null", b"[]", b'""', b"0", b"true", b"{}", b'{"a":', b"{'a': 1}", deep,
            b'{"question": "\xff\xfe"}', b'{"n": 1e999999}', b'{"n": NaN}',
            b'{"question": "a", "question": "b"}', b"\x00" * 64, b'{"a": "\\ud800"}']


def reason_bodies(video_id: str) -> list[Any]:
    ok: dict[str, Any] = {"video_id": video_id, "question": "what?"}
    bad_values: list[tuple[str, Any]] = [
        ("n", "2"), ("n", True), ("n", 1.5), ("n", -1), ("n", 10**30), ("n", None),
        ("question", ""), ("question", "x" * 8001), ("question", 5), ("question", ["a"]),
        ("options", ["a"] * 27), ("options", [1, 2]), ("options", "A. a"),
        ("task", "poem"), ("voting", 3), ("abstain_below", 2), ("abstain_below", "0.1"),
        ("sampling", "x"), ("sampling", {"temperature": "1"}), ("sampling", {"top_k": True}),
        ("sampling", {"max_tokens": 10**12}), ("sampling", {"nope": 1}),
        ("frames", {"num_frames": 0}), ("frames", {"fps": -1}),
        ("frames", {"min_pixels": 10**6, "max_pixels": 784}), ("async", "yes"),
        ("return_traces", 1), ("video_id", "../../etc/passwd"), ("video_id", "A" * 64),
        ("video_id", "b" * 64), ("video_url", "http://x" + "y" * 3000), ("extra", 1)]
    out: list[Any] = [dict(ok, **{k: v}) for k, v in bad_values]
    out += [{"question": "q"}, {"video_id": video_id, "video_url": "https://a/b", "question": "q"},
            dict(ok, video_url="ftp://a/b.mp4", video_id=None), dict(ok, n=64)]
    return out


def chat_bodies(video_id: str) -> list[Any]:
    def msg(*parts: Any) -> dict[str, Any]:
        return {"model": "m", "messages": [{"role": "user", "content": list(parts)}]}

    text = {"type": "text", "text": "what?"}
    video = {"type": "video_url", "video_url": {"url": f"video://{video_id}"}}
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64,iVBORw0KGgo="}}
    return [
        {"messages": []}, {"model": "m"}, {"messages": "hi"}, {"messages": [None]},
        {"messages": [{"role": "wizard", "content": "x"}]},
        msg(text), msg(video), msg(video, video, text), msg(video, image, text),
        msg({"type": "text", "text": "x" * 8001}),  # over the question's 8,000
        msg({"type": "text", "text": "x" * 7000}, {"type": "text", "text": "y" * 7000}, video),
        msg({"type": "text", "text": "x" * 16001}, video),
        msg(text, {"type": "video_url", "video_url": {"url": "video://nope"}}),
        msg(text, {"type": "video_url", "video_url": {"url": "video://" + "b" * 64}}),
        msg(text, {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,!!!"}}),
        msg(text, {"type": "video_url", "video_url": {"url": "data:video/mp4;base64,AAAA"}}),
        msg(text, {"type": "video_url", "video_url": {"url": "data:text/plain,hi"}}),
        msg(text, {"type": "video_url", "video_url": {"url": "https://example.com/v.mp4"}}),
        msg(text, image), msg(text, {"type": "image_url", "image_url": {"url": "data:,"}}),
        msg(text, {"type": "audio", "audio": {}}),
        dict(msg(text, video), n="2"), dict(msg(text, video), n=True),
        dict(msg(text, video), n=0), dict(msg(text, video), temperature="hot"),
        dict(msg(text, video), frame_times=[3, 1]), dict(msg(text, video), stream="yes"),
        dict(msg(text, image), frame_times=[1, 2]), dict(msg(text, image), frame_times=[-1]),
    ]


def multipart_bodies(video: bytes) -> list[tuple[str, bytes]]:
    """(content type, body) pairs: each broken in one way."""
    b = "XyZ"

    def part(name: str, data: bytes, filename: str | None = None, extra: str = "") -> bytes:
        fn = f'; filename="{filename}"' if filename else ""
        return (f'--{b}\r\nContent-Disposition: form-data; name="{name}"{fn}\r\n{extra}\r\n'
                .encode() + data + b"\r\n")

    end = f"--{b}--\r\n".encode()
    ctype = f"multipart/form-data; boundary={b}"
    return [
        (ctype, b"garbage" * 100),
        ("multipart/form-data; boundary=other", part("file", video, "v.mp4") + end),
        ("multipart/form-data", part("file", video, "v.mp4") + end),
        ("multipart/form-data; boundary=", b"--\r\n"),
        ("multipart/mixed; boundary=XyZ", part("file", video, "v.mp4") + end),
        (ctype, part("file", video, "v.mp4", extra="X-Pad: " + "p" * 100_000 + "\r\n") + end),
        (ctype, part("file", video, "v.mp4")),  # no closing boundary: truncated
        (ctype, part("file", video[: len(video) // 2], "v.mp4") + end),  # truncated video
        (ctype, part("question", b"q") + end),  # no file part
        (ctype, part("file", video, "a.mp4") + part("file", video, "b.mp4") + end),
        (ctype, part("other", video, "a.mp4") + end),
        (ctype, part("file", b"", "empty.mp4") + end),
        (ctype, part("file", b"not a video at all" * 50, "x.mp4") + end),
        (ctype, part("question", b"q" * 300_000) + part("file", video, "v.mp4") + end),
        (ctype, part("sampling", b"{") + part("file", video, "v.mp4") + end),
        (ctype, part("options", b"[1, 2]") + part("file", video, "v.mp4") + end),
        (ctype, part("n", b"abc") + part("file", video, "v.mp4") + end),
        (ctype, part("n", b"999") + part("question", b"q") + part("file", video, "v.mp4") + end),
        (ctype, f"--{b}\r\n\r\nno headers\r\n".encode() + end),
        (ctype, f"--{b}\r\nContent-Disposition: form-data\r\n\r\nx\r\n".encode() + end),
        ("application/x-www-form-urlencoded", b"question=q&file=x"),
        ("text/plain", b"hello"), ("", b"{}"),
    ]


async def send(c: httpx.AsyncClient, method: str, path: str, body: bytes,
               ctype: str) -> httpx.Response:
    headers = {"content-type": ctype} if ctype else {}
    return await c.request(method, path, content=body, headers=headers)


def assert_not_500(r: httpx.Response, what: str) -> None:
    assert r.status_code != 500, f"{what}: {r.status_code} {r.text[:300]}"
    assert r.status_code < 500 or r.status_code in (502, 503, 504), (what, r.status_code)
    if r.status_code >= 400:
        assert_error(r, r.status_code)


async def test_every_route_with_json_shapes_and_wrong_methods(gateway: Gateway) -> None:
    async with gateway() as c:
        for method, path in ROUTES:
            for body in json_shapes():
                r = await send(c, method, path, body, "application/json")
                assert_not_500(r, f"{method} {path} {body[:40]!r}")
            for other in ("PUT", "PATCH", "DELETE", "POST", "GET"):
                r = await c.request(other, path)
                assert_not_500(r, f"{other} {path}")
                if r.status_code == 405:
                    assert r.headers["allow"], path


async def test_reason_and_chat_with_broken_fields(gateway: Gateway, video_path: Path) -> None:
    async with gateway() as c:
        with video_path.open("rb") as f:
            up = await c.post("/v1/videos", files={"file": ("v.mp4", f, "video/mp4")})
        vid = up.json()["id"]
        for body in reason_bodies(vid):
            r = await c.post("/v1/reason", content=json.dumps(body),
                             headers={"content-type": "application/json"})
            assert_not_500(r, f"reason {str(body)[:120]}")
            assert r.status_code in (400, 404, 200), (body, r.status_code, r.text[:200])
        for body in chat_bodies(vid):
            r = await c.post("/v1/chat/completions", json=body)
            assert_not_500(r, f"chat {str(body)[:120]}")


async def test_wire_numbers_are_strict(gateway: Gateway, video_path: Path) -> None:
    async with gateway() as c:
        for n in ("2", True, 2.5):
            r = await c.post("/v1/reason", json={"video_id": "a" * 64, "question": "q", "n": n})
            assert assert_error(r, 400, "invalid_request")["param"] == "n"
            body = {"model": "m", "n": n, "messages": [{"role": "user", "content": "q"}]}
            r = await c.post("/v1/chat/completions", json=body)
            assert assert_error(r, 400, "invalid_request")["param"] == "n"


async def test_chat_text_over_the_question_limit_is_400(gateway: Gateway,
                                                        video_path: Path) -> None:
    async with gateway() as c:
        with video_path.open("rb") as f:
            vid = (await c.post("/v1/videos", files={"file": ("v.mp4", f)})).json()["id"]
        for size in (8001, 12000, 16000):
            parts = [{"type": "text", "text": "x" * size},
                     {"type": "video_url", "video_url": {"url": f"video://{vid}"}}]
            r = await c.post("/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": parts}]})
            assert assert_error(r, 400, "invalid_request")["param"] == "messages"


@pytest.mark.parametrize("path", ["/v1/videos", "/v1/reason"])
async def test_malformed_multipart_is_4xx(gateway: Gateway, video_path: Path,
                                          path: str) -> None:
    video = video_path.read_bytes()
    async with gateway() as c:
        for ctype, body in multipart_bodies(video):
            r = await send(c, "POST", path, body, ctype)
            assert_not_500(r, f"{path} {ctype} {body[:60]!r}")


async def test_405_names_every_method_of_the_path(gateway: Gateway) -> None:
    async with gateway() as c:
        for path, allowed in ((f"/v1/videos/{VID}", "DELETE, GET"),
                              ("/v1/jobs/job_x", "DELETE, GET"), ("/v1/videos", "POST"),
                              ("/v1/jobs/job_x/cancel", "POST"), ("/v1/reason", "POST")):
            r = await c.put(path)
            assert_error(r, 405, "method_not_allowed")
            assert r.headers["allow"] == allowed


def random_json(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(8 if depth < 4 else 5)
    leaves: list[Any] = [None, True, rng.randint(-2**70, 2**70), rng.random() * 1e6,
                         "".join(chr(rng.randrange(1, 0x2FFF)) for _ in range(rng.randrange(20)))]
    if kind < 5:
        return leaves[kind]
    if kind == 5:
        return [random_json(rng, depth + 1) for _ in range(rng.randrange(4))]
    keys = ["video_id", "question", "n", "messages", "options", "sampling", "frames",
            "role", "content", "type", "text", "video_url", "url", "task", "async"]
    return {rng.choice(keys): random_json(rng, depth + 1) for _ in range(rng.randrange(6))}


async def test_seeded_random_documents_never_500(gateway: Gateway) -> None:
    rng = random.Random(14)
    async with gateway() as c:
        for i in range(300):
            doc = random_json(rng)
            if isinstance(doc, dict) and i % 2:
                doc.setdefault("question", "q")
                doc.setdefault("messages", [{"role": "user", "content": random_json(rng, 2)}])
            body = json.dumps(doc).encode()
            for path in ("/v1/reason", "/v1/chat/completions"):
                r = await send(c, "POST", path, body, "application/json")
                assert_not_500(r, f"{path} {body[:200]!r}")


async def test_broken_credentials_on_every_route(gateway: Gateway) -> None:
    from tests.hostile.conftest import tenant_settings

    bad = ["", "Bearer", "Bearer ", "Basic YTpi", "bearer wrong", "Bearer " + "k" * 8000,
           "Bearer acme-key-0123456789 extra", "Bearer \u00e9t\u00e9"]
    async with gateway(**tenant_settings()) as c:
        for method, path in ROUTES:
            for header in bad:
                try:
                    r = await c.request(method, path, headers={"Authorization": header})
                except UnicodeEncodeError:
                    continue  # not sendable as a header at all
                assert_not_500(r, f"{method} {path} auth={header[:20]!r}")
                if path.startswith("/v1/"):
                    assert_error(r, 401)
                    assert r.headers["www-authenticate"] == "Bearer"


async def test_a_huge_data_text_is_not_mistaken_for_a_video(gateway: Gateway) -> None:
    # bodies are parsed with big `data:` strings lifted out; one in a TEXT part must
    # still be refused as too long, never become a short placeholder question
    big = "data:video/mp4;base64," + "A" * 70_000
    async with gateway() as c:
        for content in (big, [{"type": "text", "text": big}]):
            r = await c.post("/v1/chat/completions", json={
                "model": "m", "messages": [{"role": "user", "content": content}]})
            assert_error(r, 400)


async def test_text_starting_with_data_is_still_text(gateway: Gateway, video_path: Path) -> None:
    # a 5,000-character text that starts with "data:" is lifted like a data URL when the
    # body is parsed; it must come back as the question text, not as a placeholder
    async with gateway() as c:
        with video_path.open("rb") as f:
            vid = (await c.post("/v1/videos", files={"file": ("v.mp4", f)})).json()["id"]
        text = "data: " + "q" * 5000
        r = await c.post("/v1/chat/completions", json={"model": "m", "messages": [
            {"role": "user", "content": [
                {"type": "text", "text": text},
                {"type": "video_url", "video_url": {"url": f"video://{vid}"}}]}]})
        assert r.status_code == 200, r.text
        backend = c.app.state.services.backend  # type: ignore[attr-defined]
        assert any(text in str(call) for call in backend.calls), "question not passed on"


async def test_a_trickled_json_body_is_408_and_frees_its_budget(
        gateway: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    import asyncio

    import service.api.body as body_module

    monkeypatch.setattr(body_module, "BODY_GRACE_S", 0.3)
    monkeypatch.setattr(body_module, "BODY_MIN_RATE", 1_000_000)  # 200 KB: 0.2 s more

    size = 200_000  # over 64 KiB: small bodies skip the rate timer (they hold little)

    async def trickle() -> Any:
        yield b'{"question": "'
        for _ in range(100):
            await asyncio.sleep(0.1)
            yield b"x"
        yield b"x" * (size - 114)

    async with gateway() as c:
        r = await c.post("/v1/reason", content=trickle(),
                         headers={"content-type": "application/json",
                                  "content-length": str(size)})
        assert_error(r, 408, "body_timeout")
        assert c.app.state.body_budget.held == 0  # type: ignore[attr-defined]
