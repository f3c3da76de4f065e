"""The broker URL: ``mqtt://[user:pass@]host[:port][/prefix]`` (``mqtts://`` for TLS).

Parsed and checked in the parent before anything starts; every error names the URL
with its password hidden (:func:`streampose.uri.redact`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from urllib.parse import unquote, urlsplit

from streampose.errors import ConfigError
from streampose.uri import redact

__all__ = ["DEFAULT_PREFIX", "BrokerUrl", "parse_broker_url"]

DEFAULT_PREFIX = "streampose"
_PORTS = {"mqtt": 1883, "mqtts": 8883}
_LEVEL = re.compile(r"^[^#+\x00]+$")  # one topic level: no wildcards, no NUL


@dataclass(frozen=True)
class BrokerUrl:
    """A checked broker URL; ``str()`` and ``repr()`` hide the password."""

    host: str
    port: int
    prefix: str = DEFAULT_PREFIX
    username: str | None = None
    password: str | None = field(default=None, repr=False)
    tls: bool = False

    def __str__(self) -> str:
        scheme = "mqtts" if self.tls else "mqtt"
        user = ""
        if self.username is not None:
            user = self.username + (":***" if self.password is not None else "") + "@"
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"{scheme}://{user}{host}:{self.port}/{self.prefix}"

    def topic(self, *levels: str) -> str:
        """``<prefix>/<level>/...``."""
        return "/".join((self.prefix, *levels))


def parse_broker_url(text: str) -> BrokerUrl:
    """The BrokerUrl of ``text``; ConfigError (password hidden) if it is not one."""
    shown = redact(text)

    def bad(why: str) -> ConfigError:
        return ConfigError(f"--mqtt {shown}: {why} (expected "
                           "mqtt://[user:pass@]host[:port][/prefix])")

    try:
        parts = urlsplit(text)
        port = parts.port
        host = parts.hostname
    except ValueError:  # its message may quote the password: say what is wrong instead
        raise bad("the port is not a number in 1-65535") from None
    if parts.scheme not in _PORTS:
        raise bad(f"the scheme must be mqtt or mqtts, not {parts.scheme or 'missing'!r}")
    if not host:
        raise bad("no broker host")
    if port == 0:
        raise bad("the port is not a number in 1-65535")
    if parts.query or parts.fragment:
        raise bad("no query or fragment allowed")
    prefix = parts.path.strip("/") or DEFAULT_PREFIX
    if not all(_LEVEL.match(level) for level in prefix.split("/")):
        raise bad(f"the topic prefix {prefix!r} has an empty level, a wildcard (+ #) or NUL")
    username = unquote(parts.username) if parts.username is not None else None
    password = unquote(parts.password) if parts.password is not None else None
    return BrokerUrl(host=host, port=port or _PORTS[parts.scheme], prefix=prefix,
                     username=username, password=password, tls=parts.scheme == "mqtts")
