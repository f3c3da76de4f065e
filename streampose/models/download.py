"""Fetch model weights over HTTP(S) into the cache: streamed, hashed, verified, atomic.

A download goes to a temporary file beside the destination (``<name>.part-<random>``),
is hashed while it is written, checked against its Content-Length and (when given) its
SHA-256, and only then renamed into place with :func:`os.replace`. Any failure removes the
temporary file and raises :class:`~streampose.errors.ModelError` with a one-line reason, so
the destination only ever holds a complete, verified file (or whatever it held before).

Standard library only; the HTTP modules are imported on first download, so importing
this module is cheap.
"""

from __future__ import annotations

import hashlib
import logging
import os
import re
import secrets
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, BinaryIO

from streampose.errors import ModelError, describe_error

if TYPE_CHECKING:
    import http.client

__all__ = ["Progress", "cache_dir", "download", "sha256_of"]

log = logging.getLogger(__name__)

Progress = Callable[[int, int | None], None]
"""Called as ``progress(bytes_done, bytes_total)``; ``bytes_total`` is None when unknown."""

CACHE_ENV = "STREAMPOSE_CACHE"
_CHUNK = 1 << 16
_SCHEMES = ("http", "https", "file")
_SHA256_RE = re.compile(r"[0-9a-f]{64}")
_USER_AGENT = "streampose-weights-fetch"


def cache_dir() -> Path:
    """The weights cache: ``$STREAMPOSE_CACHE``, else ``$XDG_CACHE_HOME/streampose``,
    else ``~/.cache/streampose``. The folder is not created here."""
    explicit = os.environ.get(CACHE_ENV)
    if explicit:
        return Path(explicit).expanduser()
    xdg = os.environ.get("XDG_CACHE_HOME")
    if xdg:
        return Path(xdg).expanduser() / "streampose"
    return Path.home() / ".cache" / "streampose"


def sha256_of(path: Path) -> str:
    """The hex SHA-256 digest of a file's contents (read in chunks)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download(
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    timeout: float = 30.0,
    progress: Progress | None = None,
) -> Path:
    """Download ``url`` to ``dest`` atomically and return ``dest``.

    ``sha256`` (hex, any case) is checked before the file is moved into place; None skips
    the check (the length is still checked against Content-Length when the server sends
    one). ``timeout`` bounds the connection and every read, in seconds. ``progress`` is
    called after each chunk. Raises ModelError on any failure, leaving no partial file.
    """
    dest = Path(dest)
    expected = _normalised_sha256(sha256, url)
    _check_scheme(url)
    _make_folder(dest.parent)
    part = _create_part(dest)
    try:
        actual = _fetch_into(part, url=url, timeout=timeout, progress=progress)
        _verify(actual, expected=expected, url=url)
        os.replace(part, dest)
    except BaseException:
        part.unlink(missing_ok=True)
        raise
    log.info("downloaded %s -> %s (sha256 %s)", url, dest, actual)
    return dest


def _normalised_sha256(sha256: str | None, url: str) -> str | None:
    if sha256 is None:
        return None
    value = sha256.strip().lower()
    if not _SHA256_RE.fullmatch(value):
        raise ModelError(f"invalid sha256 {sha256!r} for {url}: expected 64 hex digits")
    return value


def _check_scheme(url: str) -> None:
    scheme = urllib.parse.urlsplit(url).scheme.lower()
    if scheme not in _SCHEMES:
        raise ModelError(
            f"cannot download {url!r}: unsupported URL scheme {scheme!r} "
            f"(allowed: {', '.join(_SCHEMES)})"
        )


def _make_folder(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise ModelError(f"cannot create folder {folder}: {_reason(exc)}") from exc


def _create_part(dest: Path) -> Path:
    """A new, empty temporary file beside ``dest`` (mode 0o644 minus the umask)."""
    part = dest.with_name(f"{dest.name}.part-{secrets.token_hex(6)}")
    try:
        fd = os.open(part, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
    except OSError as exc:
        raise ModelError(f"cannot write to {dest.parent}: {_reason(exc)}") from exc
    os.close(fd)
    return part


def _fetch_into(part: Path, *, url: str, timeout: float, progress: Progress | None) -> str:
    """Stream ``url`` into ``part``; return the hex SHA-256 of what was written."""
    import http.client
    import urllib.error
    import urllib.request

    log.info("downloading %s", url)
    request = urllib.request.Request(url, headers={"User-Agent": _USER_AGENT})
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response, open(part, "wb") as out:
            total = _content_length(response)
            digest, done = _copy(response, out, total=total, progress=progress)
    except (OSError, http.client.HTTPException) as exc:  # URLError is an OSError
        if isinstance(exc, urllib.error.HTTPError):
            exc.close()  # it holds the response (and its socket) open
        raise ModelError(f"cannot download {url}: {_describe(exc, timeout)}") from exc
    if total is not None and done != total:
        raise ModelError(
            f"cannot download {url}: transfer interrupted after {done} of {total} bytes"
        )
    return digest


def _content_length(response: http.client.HTTPResponse) -> int | None:
    value = response.headers.get("Content-Length")
    try:
        length = int(value) if value is not None else None
    except ValueError:
        return None
    return length if length is not None and length >= 0 else None


def _copy(
    source: BinaryIO | http.client.HTTPResponse,
    out: BinaryIO,
    *,
    total: int | None,
    progress: Progress | None,
) -> tuple[str, int]:
    digest = hashlib.sha256()
    done = 0
    if progress is not None:
        progress(0, total)
    while chunk := source.read(_CHUNK):
        out.write(chunk)
        digest.update(chunk)
        done += len(chunk)
        if progress is not None:
            progress(done, total)
    return digest.hexdigest(), done


def _verify(actual: str, *, expected: str | None, url: str) -> None:
    if expected is not None and actual != expected:
        raise ModelError(
            f"checksum mismatch for {url}: expected sha256 {expected}, got {actual} "
            "(the download was discarded)"
        )


def _describe(exc: OSError | http.client.HTTPException, timeout: float) -> str:
    """Why a download failed, in a few words."""
    import urllib.error

    if isinstance(exc, urllib.error.HTTPError):
        return f"HTTP {exc.code} {exc.reason}"
    if isinstance(exc, urllib.error.URLError):
        reason = exc.reason
        return _describe(reason, timeout) if isinstance(reason, OSError) else _reason(reason)
    if isinstance(exc, TimeoutError):
        return f"timed out after {timeout:g} s"
    return _reason(exc)


def _reason(exc: object) -> str:
    """A short, one-line description of an error."""
    import http.client

    if isinstance(exc, http.client.IncompleteRead):
        return f"transfer interrupted after {len(exc.partial)} bytes"
    return describe_error(exc) if isinstance(exc, BaseException) else str(exc)
