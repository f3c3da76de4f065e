"""Live sources: RTSP/RTSPS, HTTP(S) (MJPEG, HLS...), and webcams, opened with PyAV.

Webcams: ``/dev/videoN`` (Video4Linux) or just ``N``. Network sources get explicit open
and read timeouts so a dead camera never blocks for long; RTSP uses TCP by default
(``rtsp_transport``), which survives lossy links without smeared frames.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import av
import av.error
import numpy as np

from streampose.config.sections import LiveConfig
from streampose.errors import ConfigError, SourceError, SourceTimeoutError
from streampose.media.uri import redact

log = logging.getLogger(__name__)

NETWORK_SCHEMES = ("rtsp", "rtsps", "http", "https", "rtmp", "rtmps", "srt", "udp", "tcp")
_WEBCAM = re.compile(r"^(?:/dev/video\d+|\d+)$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")


def is_live_uri(uri: str) -> bool:
    """Network streams and webcams: sources with no end and no seeking."""
    match = _SCHEME.match(uri)
    if match:
        return match.group(1).lower() in NETWORK_SCHEMES
    return bool(_WEBCAM.match(uri))


@dataclass(frozen=True)
class LiveOptions:
    """How live sources are opened and watched (the CLI's live options).

    A blocking read that gets no data for ``min(read_timeout_s, stall_timeout_s)`` counts
    as a stall: the connection is dropped and reopened (``reconnect``) with exponential
    backoff capped at ``max_backoff_s``.
    """

    rtsp_transport: str = "tcp"
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    stall_timeout_s: float = 5.0
    reconnect: bool = True
    max_backoff_s: float = 4.0

    def __post_init__(self) -> None:
        if self.rtsp_transport not in ("tcp", "udp"):
            raise ConfigError(f"rtsp_transport: {self.rtsp_transport!r} is not tcp or udp")
        for name in ("open_timeout_s", "read_timeout_s", "stall_timeout_s", "max_backoff_s"):
            value = getattr(self, name)
            if not 0.1 <= value <= 3600:
                raise ConfigError(f"{name}: {value!r} is outside 0.1..3600 seconds")


class LiveSource:
    """One connection to a live source; ``frames()`` ends or raises when it drops."""

    def __init__(self, *, uri: str, options: LiveConfig | None = None, threads: int = 1) -> None:
        self.uri, self.options, self.threads = uri, options or LiveConfig(), threads
        self.name = redact(uri)
        self._container: av.container.InputContainer | None = None

    def open(self) -> tuple[int, int, Fraction | None]:
        """Connect; returns (width, height, average fps or None). SourceError on failure."""
        target, kwargs = self._target()
        try:
            container = av.open(target, **kwargs)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.name}: cannot open ({_reason(exc)})") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.name}: has no video stream")
        self._container = container
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        rate = stream.average_rate or stream.guessed_rate
        fps = Fraction(rate) if rate and 0 < rate < 1000 else None
        return stream.codec_context.width, stream.codec_context.height, fps

    def frames(self) -> Iterator[np.ndarray]:
        """BGR frames until the source ends (returns) or fails (SourceError)."""
        if self._container is None:
            raise SourceError(f"{self.name}: not open")
        try:
            for frame in self._container.decode(video=0):
                yield np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
        except av.error.ExitError as exc:  # FFmpeg's interrupt: our read timeout fired
            waited = min(self.options.read_timeout_s, self.options.stall_timeout_s)
            raise SourceTimeoutError(f"{self.name}: no data for {waited:g} s (stalled)") from exc
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.name}: {_reason(exc)}") from exc

    def close(self) -> None:
        if self._container is not None:
            try:
                self._container.close()
            except (av.error.FFmpegError, OSError):
                log.debug("closing %s failed", self.name, exc_info=True)
            self._container = None

    def _target(self) -> tuple[str, dict]:
        opts = self.options
        timeouts = (opts.open_timeout_s, min(opts.read_timeout_s, opts.stall_timeout_s))
        if _WEBCAM.match(self.uri):
            device = self.uri if self.uri.startswith("/dev/") else f"/dev/video{self.uri}"
            return device, {"format": "v4l2", "timeout": timeouts}
        # Probe 1 s of stream, not FFmpeg's 5 s default: connecting is faster and the burst
        # of already-stale frames it delivers first is shorter (those get dropped).
        # (fflags=nobuffer would also drop the first keyframe: frames start a GOP later.)
        options = {"analyzeduration": "1000000"}
        if self.uri.lower().startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = opts.rtsp_transport
        return self.uri, {"options": options, "timeout": timeouts}


def _reason(exc: BaseException) -> str:
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]
