"""Who may use the console, and the --serve / --serve-auth checks."""

from __future__ import annotations

import base64

import pytest

from streampose.config.sections import ConsoleConfig
from streampose.console.auth import COOKIE, Auth
from streampose.errors import ConfigError


def _basic(user: str, password: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()}


def test_open_console_lets_everyone_in() -> None:
    assert Auth.parse(None).allows({}, {}, {})


@pytest.mark.parametrize(("headers", "query", "cookies", "allowed"), [
    ({}, {}, {}, False),
    ({"Authorization": "Bearer s3cret"}, {}, {}, True),
    ({"Authorization": "Bearer wrong"}, {}, {}, False),
    ({}, {"token": "s3cret"}, {}, True),
    ({}, {"token": "s3cre"}, {}, False),
    ({}, {}, {COOKIE: "s3cret"}, True),
    ({}, {}, {"other": "s3cret"}, False),
    (_basic("s3cret", ""), {}, {}, False),
])
def test_token(headers: dict[str, str], query: dict[str, str], cookies: dict[str, str],
               allowed: bool) -> None:
    auth = Auth.parse("s3cret")
    assert auth.token == "s3cret" and auth.challenge.startswith("Bearer")
    assert auth.allows(headers, query, cookies) is allowed


@pytest.mark.parametrize(("headers", "allowed"), [
    (_basic("ops", "pa:ss"), True),         # the password may hold a colon
    (_basic("ops", "pa"), False),
    (_basic("root", "pa:ss"), False),
    ({"Authorization": "Basic !!!"}, False),
    ({"Authorization": "Bearer pa:ss"}, False),
    ({}, False),
])
def test_user_and_password(headers: dict[str, str], allowed: bool) -> None:
    auth = Auth.parse("ops:pa:ss")
    assert (auth.user, auth.password) == ("ops", "pa:ss")
    assert auth.challenge.startswith("Basic")
    assert auth.allows(headers, {"token": "pa:ss"}, {}) is allowed


@pytest.mark.parametrize(("serve", "expected"), [
    ("8080", ("127.0.0.1", 8080)),
    ("0.0.0.0:9000", ("0.0.0.0", 9000)),
    ("[::1]:9000", ("::1", 9000)),
    ("localhost:0", ("localhost", 0)),
])
def test_address(serve: str, expected: tuple[str, int]) -> None:
    assert ConsoleConfig(serve=serve, serve_auth="t").address == expected


@pytest.mark.parametrize("serve", ["http", "host:", ":80", "1.2.3.4:99999", "x:-1"])
def test_bad_address_is_one_clear_error(serve: str) -> None:
    with pytest.raises(ConfigError, match="--serve"):
        ConsoleConfig(serve=serve, serve_auth="t")


@pytest.mark.parametrize("serve", ["0.0.0.0:8080", "192.168.1.5:8080", "[::]:8080",
                                   "camera-box:8080"])
def test_binding_beyond_loopback_needs_auth(serve: str) -> None:
    with pytest.raises(ConfigError, match="--serve-auth"):
        ConsoleConfig(serve=serve)
    assert ConsoleConfig(serve=serve, serve_auth="tok").serve == serve


@pytest.mark.parametrize("serve", ["8080", "127.0.0.1:8080", "[::1]:8080", "localhost:8080",
                                   "127.8.9.10:1"])
def test_loopback_needs_no_auth(serve: str) -> None:
    assert ConsoleConfig(serve=serve).serve_auth is None


def test_empty_auth_is_refused() -> None:
    with pytest.raises(ConfigError, match="empty"):
        ConsoleConfig(serve="0.0.0.0:1", serve_auth="  ")


@pytest.mark.parametrize("header", ["bearer s3cret", "BEARER s3cret", "Bearer  s3cret ",
                                    "  Bearer s3cret"])
def test_the_scheme_is_case_insensitive(header: str) -> None:
    assert Auth.parse("s3cret").allows({"Authorization": header}, {}, {})


def test_basic_scheme_in_any_case() -> None:
    header = _basic("ops", "pw")["Authorization"].replace("Basic", "bASIC")
    assert Auth.parse("ops:pw").allows({"Authorization": header}, {}, {})


# what aiohttp's parser makes of header bytes that are not UTF-8 (kept as surrogates)
NOT_UTF8 = b"Bearer s3cr\xff\xfe".decode("utf-8", "surrogateescape")


@pytest.mark.parametrize("header", [NOT_UTF8, "Bearer \udcff", "Bearer \ud800",
                                    "Basic \udcff\udcfe", "Basic ÿÿÿÿ", "Basic !!!!",
                                    "Basic " + base64.b64encode(b"ops:\xff\xfe").decode(),
                                    "Basic", "Bearer", ""])
@pytest.mark.parametrize("spec", ["s3cret", "ops:pw"])
def test_an_undecodable_header_is_refused_not_an_error(spec: str, header: str) -> None:
    assert Auth.parse(spec).allows({"Authorization": header}, {"token": "\udcff"},
                                   {COOKIE: "\ud800"}) is False
