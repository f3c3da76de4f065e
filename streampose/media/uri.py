"""Source names safe to show: credentials in URLs are redacted everywhere we print them."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit


def redact(uri: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``; other strings unchanged."""
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
    except ValueError:
        return uri
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    if parts.port is not None:
        host = f"{host}:{parts.port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))
