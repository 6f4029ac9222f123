"""The `video_url` fetch guard: off by default; when on, http(s) to allow-listed hosts
only, never to loopback, private, link-local or otherwise non-global addresses.

Invariants (SSRF defence):
- The host must be in `O3_VIDEO_URL_ALLOWLIST` (exact name, or a subdomain of an
  entry written as `.example.com`).
- The name is resolved ONCE here; every resolved address must be global; the
  connection then goes to that checked address (the Host header and TLS SNI carry the
  name), so a DNS answer that changes between check and connect cannot redirect us.
- Redirects are not followed (a redirect is refused with 400).
- The body is streamed into the video store with the size cap enforced while streaming.

Bounded in time (a slow or endless upstream cannot hold a request, a worker or
shutdown): the whole fetch has a deadline (O3_VIDEO_URL_DEADLINE_S: connect, headers
and every chunk wait at most the time left), each read at most O3_VIDEO_URL_TIMEOUT_S,
and after `RATE_GRACE_S` the average rate must stay above O3_VIDEO_URL_MIN_RATE_BPS.
The fetch runs inside the request (`guarded` in the router), so a client that
disconnects cancels it and its connection is closed.

Upstream failures are 502/504 in the one error shape: refused or unreachable 502
`video_url_unreachable`, any other transport or protocol error 502
`video_url_fetch_failed`, a non-200 answer 502 `video_url_bad_status`, the deadline,
a read timeout or too slow a rate 504 `video_url_timeout`.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from service.errors import ApiError
from service.settings import Settings

RATE_GRACE_S = 10.0  # the minimum-rate rule applies from this many seconds in


def _refuse(code: str, message: str) -> ApiError:
    return ApiError(400, code, message, param="video_url")


def host_allowed(host: str, allowlist: tuple[str, ...]) -> bool:
    host = host.lower().rstrip(".")
    for entry in allowlist:
        if entry.startswith(".") and (host.endswith(entry) or host == entry[1:]):
            return True
        if host == entry:
            return True
    return False


def address_is_public(addr: str) -> bool:
    ip = ipaddress.ip_address(addr.split("%")[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    return ip.is_global and not (ip.is_multicast or ip.is_reserved or ip.is_link_local)


def check_url(url: str, settings: Settings) -> tuple[str, str, int]:
    """Validate scheme and host; return (scheme, host, port)."""
    if not settings.video_url_enabled:
        raise ApiError(400, "video_url_disabled",
                       "video_url fetching is off on this server (O3_VIDEO_URL_ENABLED); "
                       "upload the file instead", param="video_url")
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _refuse("invalid_video_url", "video_url must be an http(s) URL with a host")
    if parts.username or parts.password:
        raise _refuse("invalid_video_url", "video_url must not carry credentials")
    if not host_allowed(parts.hostname, settings.allowlist):
        raise _refuse("video_url_not_allowed",
                      f"host {parts.hostname!r} is not in O3_VIDEO_URL_ALLOWLIST")
    return parts.scheme, parts.hostname, parts.port or (443 if parts.scheme == "https" else 80)


async def resolve_public(host: str, port: int) -> str:
    """Resolve `host`; refuse unless every address is public. Returns one address."""
    loop = asyncio.get_running_loop()
    try:
        infos = await loop.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise _refuse("video_url_unresolvable", f"cannot resolve {host!r}") from exc
    addrs = [str(info[4][0]) for info in infos]
    if not addrs or not all(address_is_public(a) for a in addrs):
        raise _refuse("video_url_forbidden_address",
                      f"{host!r} resolves to a loopback, private or link-local address")
    return addrs[0]


def pinned_url(url: str, addr: str) -> str:
    parts = urlsplit(url)
    host = f"[{addr}]" if ":" in addr else addr
    netloc = f"{host}:{parts.port}" if parts.port else host
    return urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))


def _upstream(status: int, code: str, message: str) -> ApiError:
    return ApiError(status, code, message, param="video_url")


def _transport_error(exc: httpx.HTTPError) -> ApiError:
    if isinstance(exc, httpx.TimeoutException):
        return _upstream(504, "video_url_timeout", "fetching video_url timed out "
                         "(O3_VIDEO_URL_TIMEOUT_S)")
    if isinstance(exc, httpx.ConnectError):
        return _upstream(502, "video_url_unreachable", "cannot connect to the video_url host")
    return _upstream(502, "video_url_fetch_failed",
                     f"fetching video_url failed: {type(exc).__name__}")


class _Clock:
    """The fetch's deadline and minimum average rate."""

    def __init__(self, settings: Settings) -> None:
        loop = asyncio.get_running_loop()
        self.now = loop.time
        self.start = self.now()
        self.deadline = self.start + settings.video_url_deadline_s
        self.min_rate = settings.video_url_min_rate_bps
        self.total = 0

    def left(self) -> float:
        left = self.deadline - self.now()
        if left <= 0:
            raise _upstream(504, "video_url_timeout", "fetching video_url took longer than "
                            "O3_VIDEO_URL_DEADLINE_S")
        return left

    def count(self, n: int) -> None:
        self.total += n
        elapsed = self.now() - self.start
        if self.min_rate and elapsed > RATE_GRACE_S and self.total < self.min_rate * elapsed:
            raise _upstream(504, "video_url_timeout", f"video_url sends slower than "
                            f"{self.min_rate} bytes/s (O3_VIDEO_URL_MIN_RATE_BPS)")


async def _within(clock: _Clock, step: Any) -> Any:
    try:
        return await asyncio.wait_for(step, clock.left())
    except TimeoutError as exc:
        raise _upstream(504, "video_url_timeout", "fetching video_url took longer than "
                        "O3_VIDEO_URL_DEADLINE_S") from exc


async def stream_video_url(url: str, settings: Settings) -> AsyncIterator[bytes]:
    """Yield the body of `url` in chunks, after every check; capped in bytes and time."""
    scheme, host, port = check_url(url, settings)
    clock = _Clock(settings)
    addr = await _within(clock, resolve_public(host, port))
    headers = {"Host": host if port in (80, 443) else f"{host}:{port}"}
    ext = {"sni_hostname": host} if scheme == "https" else {}
    timeout = httpx.Timeout(settings.video_url_timeout_s, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as c:
        req = c.build_request("GET", pinned_url(url, addr), headers=headers, extensions=ext)
        try:
            resp = await _within(clock, c.send(req, stream=True))
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from exc
        try:
            if resp.status_code != 200:
                raise _upstream(502, "video_url_bad_status",
                                f"fetching video_url answered HTTP {resp.status_code}")
            async for chunk in _chunks(resp, clock, settings.video_url_max_bytes):
                yield chunk
        finally:
            await resp.aclose()


async def _chunks(resp: httpx.Response, clock: _Clock, cap: int) -> AsyncIterator[bytes]:
    body = resp.aiter_bytes()
    while True:
        try:
            chunk = await _within(clock, anext(body))
        except StopAsyncIteration:
            return
        except httpx.HTTPError as exc:
            raise _transport_error(exc) from exc
        clock.count(len(chunk))
        if clock.total > cap:
            raise ApiError(413, "video_url_too_large", f"video_url body exceeds {cap} bytes "
                           "(O3_VIDEO_URL_MAX_BYTES)", param="video_url")
        yield chunk
