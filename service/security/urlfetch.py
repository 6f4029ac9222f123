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
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import AsyncIterator
from urllib.parse import urlsplit, urlunsplit

import httpx

from service.errors import ApiError
from service.settings import Settings


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


async def stream_video_url(url: str, settings: Settings) -> AsyncIterator[bytes]:
    """Yield the body of `url` in chunks, after every check; cap at video_url_max_bytes."""
    scheme, host, port = check_url(url, settings)
    addr = await resolve_public(host, port)
    headers = {"Host": host if port in (80, 443) else f"{host}:{port}"}
    ext = {"sni_hostname": host} if scheme == "https" else {}
    timeout = httpx.Timeout(settings.video_url_timeout_s, connect=10.0)
    async with httpx.AsyncClient(timeout=timeout, follow_redirects=False, trust_env=False) as c:
        req = c.build_request("GET", pinned_url(url, addr), headers=headers, extensions=ext)
        resp = await c.send(req, stream=True)
        try:
            if resp.status_code != 200:
                raise _refuse("video_url_fetch_failed",
                              f"fetching video_url answered HTTP {resp.status_code}")
            total = 0
            async for chunk in resp.aiter_bytes():
                total += len(chunk)
                if total > settings.video_url_max_bytes:
                    raise ApiError(413, "video_url_too_large",
                                   f"video_url body exceeds {settings.video_url_max_bytes} bytes "
                                   "(O3_VIDEO_URL_MAX_BYTES)", param="video_url")
                yield chunk
        finally:
            await resp.aclose()
