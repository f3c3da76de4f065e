"""Who may use the console: nobody is asked on loopback without ``--serve-auth``;
otherwise every request must carry the token or the user and password.

A token is accepted as ``Authorization: Bearer TOKEN``, as ``?token=TOKEN`` (the page
then gets an HttpOnly cookie, so that its own requests, the WebSocket and the event
stream carry it) or as that cookie. ``USER:PASSWORD`` is HTTP basic authentication,
which browsers ask for and resend by themselves. Comparisons take constant time. The
scheme (``Bearer``, ``Basic``) is case-insensitive; a header that does not decode (bytes
that are not UTF-8, bad base64) is simply not a match, never an error.
"""

from __future__ import annotations

import base64
import hmac
from collections.abc import Mapping
from dataclasses import dataclass

__all__ = ["COOKIE", "Auth"]

COOKIE = "streampose_token"


@dataclass(frozen=True)
class Auth:
    """``token`` or ``user``/``password``; ``Auth.parse(None)`` lets everyone in."""

    token: str | None = None
    user: str | None = None
    password: str | None = None

    @classmethod
    def parse(cls, spec: str | None) -> Auth:
        """``None`` (open), ``TOKEN``, or ``USER:PASSWORD``."""
        if spec is None:
            return cls()
        user, sep, password = spec.partition(":")
        return cls(user=user, password=password) if sep else cls(token=spec)

    @property
    def open(self) -> bool:
        return self.token is None and self.user is None

    @property
    def challenge(self) -> str:
        """The ``WWW-Authenticate`` header of a 401."""
        return 'Basic realm="streampose"' if self.user is not None else 'Bearer realm="streampose"'

    def allows(self, headers: Mapping[str, str], query: Mapping[str, str],
               cookies: Mapping[str, str]) -> bool:
        """Whether a request with these headers, query and cookies may pass."""
        if self.open:
            return True
        scheme, credentials = _scheme(headers.get("Authorization", ""))
        if self.user is not None:
            return scheme == "basic" and self._basic(credentials)
        token = (credentials if scheme == "bearer" else None) \
            or query.get("token") or cookies.get(COOKIE)
        return token is not None and _same(token, self.token or "")

    def _basic(self, credentials: str) -> bool:
        try:
            decoded = base64.b64decode(credentials.encode("ascii"), validate=True).decode()
        except ValueError:  # not ASCII, not base64 (binascii.Error), not UTF-8
            return False
        user, _, password = decoded.partition(":")
        # both compared, always: no early exit telling which one was wrong
        ok_user = _same(user, self.user or "")
        ok_password = _same(password, self.password or "")
        return ok_user and ok_password


def _scheme(header: str) -> tuple[str, str]:
    """``("bearer", "TOKEN")`` of ``"Bearer TOKEN"``: the scheme in lower case (RFC 9110:
    it is case-insensitive) and the credentials without surrounding blanks."""
    scheme, _, credentials = header.strip().partition(" ")
    return scheme.lower(), credentials.strip()


def _same(a: str, b: str) -> bool:
    """Constant-time equality; undecodable header bytes (kept by the HTTP parser as
    surrogates) are encoded as they are, so they never raise (and never match a token)."""
    return hmac.compare_digest(a.encode("utf-8", "surrogatepass"),
                               b.encode("utf-8", "surrogatepass"))
