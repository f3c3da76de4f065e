"""One camera of a cameras file (:mod:`streampose.config.cameras_file`): its name, its URL
and its own options, checked on construction."""

from __future__ import annotations

import re
from dataclasses import dataclass

from streampose.errors import ConfigError
from streampose.uri import NETWORK_SCHEMES, URL_SCHEME, check_url, is_webcam, redact

__all__ = ["NAME", "TRANSPORTS", "Camera", "check_camera_url"]

NAME = re.compile(r"^[A-Za-z0-9_-][A-Za-z0-9._-]*$")  # as streampose.uri.camera_name makes
TRANSPORTS = ("tcp", "udp")
_RTSP = ("rtsp", "rtsps")


@dataclass(frozen=True)
class Camera:
    """One camera: its name (the stream's name in topics, files, the console and the
    summary), its URL (or a video file, or a webcam index) and its own options.

    ``transport``: RTSP over ``tcp`` or ``udp`` (None: ``[live].rtsp_transport``);
    ``record``: write its annotated MP4 when ``[outputs].video`` is set; ``draw``: draw
    the poses on that recording; ``blur_faces``: None follows ``[draw].blur_faces``.
    """

    name: str
    url: str
    transport: str | None = None
    record: bool = True
    draw: bool = True
    blur_faces: bool | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not NAME.match(self.name):
            raise ConfigError(f"name = {self.name!r}: a camera name is letters, digits, "
                              "'_', '-' and '.' (not first; e.g. \"door-1\")")
        if not isinstance(self.url, str) or not self.url.strip():
            raise ConfigError(f"url = {_shown(self.url)}: expected a non-empty string "
                              "(rtsp://..., a video file, or a webcam index)")
        check_url(self.url)
        scheme = _scheme(self.url)
        for key in ("record", "draw"):
            if not isinstance(getattr(self, key), bool):
                raise ConfigError(f"{key} = {getattr(self, key)!r}: expected true or false")
        if self.blur_faces is not None and not isinstance(self.blur_faces, bool):
            raise ConfigError(f"blur_faces = {self.blur_faces!r}: expected true or false")
        if self.transport is not None:
            if self.transport not in TRANSPORTS:
                raise ConfigError(f"transport = {self.transport!r}: must be one of "
                                  f"{', '.join(map(repr, TRANSPORTS))}")
            if scheme not in _RTSP:
                raise ConfigError(f"transport = {self.transport!r}: only for rtsp:// "
                                  f"cameras, not {redact(self.url)!r}")

    @property
    def is_live(self) -> bool:
        """Whether the camera is a network stream or a webcam (not a file)."""
        return _scheme(self.url) is not None or is_webcam(self.url)


def _shown(value: object) -> str:
    return repr(redact(value)) if isinstance(value, str) else repr(value)


def _scheme(url: str) -> str | None:
    match = URL_SCHEME.match(url)
    return match.group(1).lower() if match else None


def check_camera_url(url: str) -> None:
    """What a cameras file (or ``fleet add --url``) takes as a camera: a network URL of a
    known scheme, a video file or a webcam (ConfigError naming the scheme otherwise). A
    fixed run's sources are checked by the source kinds instead
    (:mod:`streampose.sources.factory`), so its seats hold any of them."""
    scheme = _scheme(url)
    if scheme is not None and scheme not in NETWORK_SCHEMES:
        raise ConfigError(f"url = {redact(url)!r}: unsupported scheme {scheme!r} "
                          f"(known: {', '.join(NETWORK_SCHEMES)})")
