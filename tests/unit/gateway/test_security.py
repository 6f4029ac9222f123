"""Auth key comparison and the video_url guard's pure checks."""

from __future__ import annotations

import pytest
from fastapi import APIRouter
from fastapi.routing import APIRoute

from service.errors import ApiError
from service.security.auth import (
    ApiKeyRoute,
    bearer_token,
    check_api_key,
    key_matches,
    require_authed,
)
from service.security.urlfetch import address_is_public, check_url, host_allowed, pinned_url
from service.settings import Settings


@pytest.mark.parametrize(("presented", "keys", "ok"), [
    ("k1", ("k1", "k2"), True),      # first key matches
    ("k2", ("k1", "k2"), True),      # a later key matches (no early exit needed)
    ("k3", ("k1", "k2"), False),     # unknown key
    ("", ("k1",), False),            # empty token never matches
    ("k1 ", ("k1",), False),         # no trimming inside the comparison
])
def test_key_matches(presented: str, keys: tuple[str, ...], ok: bool) -> None:
    assert key_matches(presented, keys) is ok


@pytest.mark.parametrize(("header", "token"), [
    ("Bearer abc", "abc"),       # standard
    ("bearer abc", "abc"),       # scheme is case-insensitive
    ("Basic abc", None),         # other schemes are not API keys
    ("Bearer ", None),           # empty token
    (None, None),                # no header
])
def test_bearer_token(header: str | None, token: str | None) -> None:
    assert bearer_token(header) == token


def test_check_api_key_statuses() -> None:
    check_api_key((), None)  # auth off: anything goes
    with pytest.raises(ApiError) as missing:
        check_api_key(("k",), None)
    with pytest.raises(ApiError) as wrong:
        check_api_key(("k",), "Bearer nope")
    assert (missing.value.status, missing.value.code) == (401, "missing_api_key")
    assert (wrong.value.status, wrong.value.code) == (401, "invalid_api_key")


def _ok() -> dict[str, str]:
    return {}


@pytest.mark.parametrize(("route_class", "refused"), [
    (ApiKeyRoute, False),  # every route checks the key: accepted as a /v1 router
    (APIRoute, True),      # a plain APIRoute would skip the check: refused at build time
])
def test_require_authed_refuses_a_route_without_the_check(
    route_class: type[APIRoute], refused: bool
) -> None:
    router = APIRouter(prefix="/v1", route_class=ApiKeyRoute)
    router.add_api_route("/checked", _ok)
    router.add_api_route("/maybe", _ok, route_class_override=route_class)
    if refused:
        with pytest.raises(RuntimeError, match="/v1/maybe"):
            require_authed(router)
    else:
        assert require_authed(router) is router


@pytest.mark.parametrize(("addr", "public"), [
    ("93.184.216.34", True),        # an ordinary public IPv4 address
    ("127.0.0.1", False),           # loopback
    ("10.1.2.3", False),            # RFC 1918 private
    ("172.16.0.9", False),          # RFC 1918 private
    ("192.168.1.1", False),         # RFC 1918 private
    ("169.254.169.254", False),     # link-local: cloud metadata endpoint
    ("0.0.0.0", False),             # unspecified
    ("100.64.0.1", False),          # carrier-grade NAT (not global)
    ("::1", False),                 # IPv6 loopback
    ("fe80::1", False),             # IPv6 link-local
    ("fc00::1", False),             # IPv6 unique local
    ("::ffff:127.0.0.1", False),    # IPv4-mapped loopback must not slip through
    ("2606:4700:4700::1111", True), # public IPv6
    ("224.0.0.1", False),           # multicast
])
def test_address_is_public(addr: str, public: bool) -> None:
    assert address_is_public(addr) is public


@pytest.mark.parametrize(("host", "allowed"), [
    ("videos.example.com", True),    # exact entry
    ("VIDEOS.example.com.", True),   # case and trailing dot normalised
    ("cdn.media.org", True),         # subdomain of a dotted entry
    ("media.org", True),             # the dotted entry's own domain
    ("evilmedia.org", False),        # suffix without a dot boundary
    ("example.com", False),          # parent of an exact entry
])
def test_host_allowed(host: str, allowed: bool) -> None:
    assert host_allowed(host, ("videos.example.com", ".media.org")) is allowed


def _settings(**kw: object) -> Settings:
    return Settings(_env_file=None, **kw)  # type: ignore[call-arg, arg-type]


@pytest.mark.parametrize(("url", "code"), [
    ("ftp://videos.example.com/a.mp4", "invalid_video_url"),        # scheme
    ("http://user:pw@videos.example.com/a.mp4", "invalid_video_url"),  # credentials
    ("http://other.example.com/a.mp4", "video_url_not_allowed"),    # not allow-listed
    ("file:///etc/passwd", "invalid_video_url"),                    # no path reaches the FS
])
def test_check_url_refusals(url: str, code: str) -> None:
    s = _settings(video_url_enabled=True, video_url_allowlist="videos.example.com")
    with pytest.raises(ApiError) as err:
        check_url(url, s)
    assert err.value.code == code and err.value.status == 400


def test_check_url_off_by_default() -> None:
    with pytest.raises(ApiError) as err:
        check_url("https://videos.example.com/a.mp4", _settings())
    assert err.value.code == "video_url_disabled"


def test_pinned_url_connects_to_checked_address() -> None:
    assert pinned_url("https://h.example/v.mp4?x=1", "93.184.216.34") == \
        "https://93.184.216.34/v.mp4?x=1"
    assert pinned_url("http://h.example:8080/v", "2001:db8::1") == "http://[2001:db8::1]:8080/v"
