"""Which origins may open the console's WebSocket."""

from __future__ import annotations

import pytest

from streampose.console.origin import origin_allowed, parse_origins

ALLOWED = parse_origins("https://Ops.Example/, http://ops.example:8080")


def test_allow_list_is_normalised() -> None:
    assert {"https://ops.example:443", "http://ops.example:8080"} == ALLOWED
    assert parse_origins(None) == frozenset() and parse_origins(" , ") == frozenset()


@pytest.mark.parametrize(("origin", "host", "allowed"), [
    (None, "127.0.0.1:8080", True),                      # not a browser: credentials decide
    ("http://127.0.0.1:8080", "127.0.0.1:8080", True),   # the console's own page
    ("HTTP://LocalHost", "localhost:80", True),           # case, default port
    ("http://localhost:80", "LOCALHOST", True),
    ("http://[::1]:9000", "[::1]:9000", True),
    ("http://evil.example", "127.0.0.1:8080", False),
    ("http://127.0.0.1:8081", "127.0.0.1:8080", False),  # another port is another origin
    ("https://127.0.0.1:8080", "127.0.0.1:8080", True),  # a TLS proxy in front, same authority
    ("null", "127.0.0.1:8080", False),
    ("http://127.0.0.1:8080", None, False),
    ("http://\udcff", "127.0.0.1:8080", False),
    ("https://ops.example", "10.0.0.5:8080", True),      # --serve-origin
    ("http://ops.example:8080", "10.0.0.5:8080", True),
    ("http://ops.example", "10.0.0.5:8080", False),
])
def test_origin(origin: str | None, host: str | None, allowed: bool) -> None:
    assert origin_allowed(origin, host, ALLOWED) is allowed
