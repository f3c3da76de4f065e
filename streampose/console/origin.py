"""Whether a WebSocket upgrade comes from the console's own page.

Browsers do not apply CORS to WebSockets: a page elsewhere could open ``/api/live`` with
the console's cookie. An upgrade that carries an ``Origin`` must name the same scheme-less
host and port as its ``Host`` header, or one of the origins given by ``--serve-origin``.
Clients that are not browsers send no ``Origin`` and are judged by their credentials only.
"""

from __future__ import annotations

from urllib.parse import urlsplit

__all__ = ["origin_allowed", "parse_origins"]

DEFAULT_PORTS = {"http": 80, "https": 443}


def parse_origins(spec: str | None) -> frozenset[str]:
    """``--serve-origin``: comma-separated origins (``https://host[:port]``), normalised."""
    if not spec:
        return frozenset()
    return frozenset(_normal(part) for part in spec.split(",") if part.strip())


def origin_allowed(origin: str | None, host: str | None, allowed: frozenset[str]) -> bool:
    """No ``Origin``, the same host and port as ``Host``, or an allowed origin."""
    if origin is None:
        return True
    normal = _normal(origin)
    if normal in allowed:
        return True
    scheme, _, authority = normal.partition("://")
    return bool(host) and authority == _authority(scheme, (host or "").strip().lower())


def _normal(origin: str) -> str:
    """``scheme://host:port`` in lower case, with the scheme's default port made explicit
    (``null`` or anything unparsable stays as it is and matches no ``Host``)."""
    text = origin.strip().lower().rstrip("/")
    try:
        parts = urlsplit(text)
    except ValueError:
        return text
    if parts.scheme not in DEFAULT_PORTS or not parts.netloc:
        return text
    return f"{parts.scheme}://{_authority(parts.scheme, parts.netloc)}"


def _authority(scheme: str, netloc: str) -> str:
    """``host:port`` of a ``Host`` header or an origin's netloc, with the default port."""
    host, sep, port = netloc.rpartition(":")
    has_port = bool(sep) and port.isdigit() and (":" not in host or host.endswith("]"))
    if has_port:
        return f"{host}:{int(port)}"
    return f"{netloc}:{DEFAULT_PORTS.get(scheme, 80)}"
