"""What a source string names: a URL (live or not), images, or a file; credentials hidden.

One URL pattern for the whole package (:data:`URL_SCHEME`). See ARCHITECTURE.md
(sources).
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from streampose.errors import ConfigError

__all__ = [
    "IMAGE_EXTENSIONS",
    "NETWORK_SCHEMES",
    "URL_SCHEME",
    "camera_name",
    "has_glob",
    "is_image_name",
    "is_image_uri",
    "is_live_uri",
    "is_url",
    "is_webcam",
    "redact",
    "unique_names",
]

IMAGE_EXTENSIONS = frozenset(
    {".bmp", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}
)
NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp", "rtmps", "srt", "udp", "tcp")
URL_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")  # group 1: the scheme
_WEBCAM = re.compile(r"^(?:/dev/video\d+|\d+)$")
_GLOB_CHARS = frozenset("*?[")
_HOST_SCHEMES = frozenset({"rtsp", "rtsps", "http", "https", "rtmp", "rtmps"})  # need a host


def is_url(uri: str) -> bool:
    """Whether ``uri`` starts with ``scheme://`` (any scheme)."""
    return URL_SCHEME.match(uri) is not None


def check_url(uri: str) -> None:
    """ConfigError (one line, credentials redacted) when ``uri`` looks like a URL but
    cannot be parsed (``rtsp://[::1``) or names no host; other strings pass."""
    if not is_url(uri):
        return
    try:
        parts = urlsplit(uri)
        parts.port  # noqa: B018 - parsing the port raises for a bad one
    except ValueError as exc:
        raise ConfigError(f"{_shown(uri)}: malformed URL ({exc})") from exc
    if parts.scheme.lower() in _HOST_SCHEMES and not parts.hostname:
        raise ConfigError(f"{_shown(uri)}: malformed URL (no host)")


def _shown(uri: str) -> str:
    """``uri`` with anything between ``//`` and ``@`` hidden (it may hold a password)."""
    return re.sub(r"//[^/@]*@", "//***@", uri)


def is_webcam(uri: str) -> bool:
    """``/dev/videoN`` or just ``N``: a Video4Linux device."""
    return _WEBCAM.match(uri) is not None


def is_live_uri(uri: str) -> bool:
    """Network streams and webcams: sources with no end and no seeking."""
    match = URL_SCHEME.match(uri)
    if match:
        return match.group(1).lower() in NETWORK_SCHEMES
    return is_webcam(uri)


def has_glob(uri: str) -> bool:
    """Whether ``uri`` contains a glob character (``*``, ``?``, ``[``)."""
    return any(c in _GLOB_CHARS for c in uri)


def is_image_name(path: Path) -> bool:
    """Whether the file name has an image extension (:data:`IMAGE_EXTENSIONS`, any case)."""
    return path.suffix.lower() in IMAGE_EXTENSIONS


def is_image_uri(uri: str | Path) -> bool:
    """Whether ``uri`` names images: a directory, an image file, or a glob pattern."""
    path = Path(uri)
    if path.is_dir():
        return True
    if path.exists() or not has_glob(str(uri)):
        return is_image_name(path)
    return True


def redact(uri: str) -> str:
    """``rtsp://user:secret@host/x`` -> ``rtsp://user:***@host/x``; other strings unchanged."""
    if "://" not in uri:
        return uri
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:  # a bad port (may be a password: user:pw without @host): hide it
        head, _, rest = uri.partition("://")
        end = (rest + "/").find("/")
        at = rest.rfind("@", 0, end)
        return f"{head}://***@{rest[at + 1:]}" if at >= 0 else f"{head}://***{rest[end:]}"
    if parts.password is None and parts.username is None:
        return uri
    host = parts.hostname or ""
    if port is not None:
        host = f"{host}:{port}"
    user = parts.username or ""
    netloc = f"{user}:***@{host}" if parts.password is not None else f"***@{host}"
    return urlunsplit(parts._replace(netloc=netloc))


_NAME_CHARS = re.compile(r"[^A-Za-z0-9_-]+")
_URL_NAME_CHARS = re.compile(r"[^A-Za-z0-9._-]+")  # a URL's name keeps its host's dots


def camera_name(uri: str) -> str:
    """A short, readable name for a source, safe in MQTT topics, file names and URLs.

    A URL: its host, its port when it has one and its path's parts, joined by ``-``
    (``rtsp://user:pw@cam7.local:8554/live/main`` -> ``cam7.local-8554-live-main``,
    ``rtsp://127.0.0.1:8554/cam0`` -> ``127.0.0.1-8554-cam0``); a file
    ``/v/entrance.mp4`` -> ``entrance``; webcam ``0`` -> ``webcam0``. Other characters
    than letters, digits, ``_``, ``-`` (and ``.`` in a URL's name) become ``_``.
    Credentials and query strings never appear.
    """
    if is_webcam(uri):
        return "webcam" + uri.rsplit("video", 1)[-1]
    if is_url(uri):
        return _URL_NAME_CHARS.sub("_", _url_name(uri)).strip("._-") or "camera"
    raw = Path(uri.rstrip("/")).stem
    return _NAME_CHARS.sub("_", raw).strip("_") or "camera"


def _url_name(uri: str) -> str:
    """``host-port-path-parts`` of a URL (no user, password or query); "" if malformed."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return ""
    pieces = [parts.hostname or "", "" if port is None else str(port), *parts.path.split("/")]
    return "-".join(p for p in pieces if p)


def unique_names(names: list[str]) -> tuple[str, ...]:
    """``names`` with repeats made unique by a ``-2``, ``-3`` ... suffix, in order."""
    seen: dict[str, int] = {}
    out = []
    for name in names:
        seen[name] = seen.get(name, 0) + 1
        out.append(name if seen[name] == 1 else f"{name}-{seen[name]}")
    return tuple(out)
