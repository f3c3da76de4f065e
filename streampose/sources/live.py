"""Live sources: RTSP/RTSPS, HTTP(S) (MJPEG, HLS...), and webcams, opened with PyAV.

Webcams: ``/dev/videoN`` (Video4Linux) or just ``N``. Network sources get explicit open
and read timeouts so a dead camera never blocks for long; RTSP uses TCP by default
(``rtsp_transport``), which survives lossy links without smeared frames. A live source
can be closed and opened again (a reconnect); its timestamps are wall-clock milliseconds
since it was first opened, kept strictly increasing (a frame decoded in the same
millisecond as the previous one gets the next millisecond: a loaded machine decodes a
buffered burst that fast), so they stay monotonic across reconnects and every output
(JSON lines, the recording) carries the same ones. What the decode
stage does with a live source (drop, reconnect, back off) is its policy: see
:mod:`streampose.stages.decode` and ARCHITECTURE.md (sources).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator
from fractions import Fraction
from typing import Any

import av
import av.error
import numpy as np

from streampose.config.sections import LiveConfig
from streampose.errors import SourceError, SourceTimeoutError, describe_error
from streampose.sources.base import Frame, Source, SourceInfo
from streampose.sources.damage import DamageLog, decode_packets
from streampose.uri import is_webcam, redact

__all__ = ["LIVE_TIME_BASE", "LiveSource"]

log = logging.getLogger(__name__)

LIVE_TIME_BASE = Fraction(1, 1000)


class LiveSource(Source):
    """One live source; ``frames()`` ends or raises when the connection drops.

    ``open()`` connects (SourceError on failure), ``close()`` disconnects; both may be
    repeated. ``SourceInfo.uri`` is the URL with its credentials redacted.
    """

    def __init__(self, *, uri: str, config: LiveConfig | None = None, threads: int = 1) -> None:
        self.uri, self.config, self.threads = uri, config or LiveConfig(), threads
        self.name = redact(uri)
        self.epoch: float | None = None  # wall time of the first open(): pts 0
        self.last_pts = -1  # the last pts given, in ms since the epoch
        self._container: av.container.InputContainer | None = None
        self.damage = DamageLog(self.name)

    @property
    def decode_errors(self) -> int:
        return self.damage.count

    def open(self) -> SourceInfo:
        """Connect (idempotent); SourceError when the source is down or has no video."""
        if self._container is not None:
            return self.info
        container = self._connect()
        stream = container.streams.video[0]
        stream.thread_type = "AUTO"
        stream.codec_context.thread_count = self.threads
        rate = stream.average_rate or stream.guessed_rate
        fps = Fraction(rate) if rate and 0 < rate < 1000 else None
        self._container = container
        self._info = SourceInfo(uri=self.name, width=stream.codec_context.width,
                                height=stream.codec_context.height, time_base=LIVE_TIME_BASE,
                                fps=fps, frames=None, live=True)  # fmt: skip
        if self.epoch is None:
            self.epoch = time.time()
        return self._info

    def frames(self) -> Iterator[Frame]:
        """BGR frames until the source ends (returns) or fails (SourceError)."""
        self.open()
        container, epoch = self._container, self.epoch
        assert container is not None and epoch is not None
        self.damage.consecutive = 0  # a new connection: no run of errors yet
        index = 0
        try:
            for frame in decode_packets(container, container.streams.video[0], self.damage,
                                        resume_demux=False):
                image = np.ascontiguousarray(frame.to_ndarray(format="bgr24"))
                wall = time.time()
                self.damage.good()
                self.last_pts = max(round((wall - epoch) * 1000), self.last_pts + 1)
                yield Frame(image=image, pts=self.last_pts, index=index, wall=wall)
                index += 1
        except SourceError:
            raise
        except av.error.ExitError as exc:  # FFmpeg's interrupt: our read timeout fired
            waited = min(self.config.read_timeout_s, self.config.stall_timeout_s)
            raise SourceTimeoutError(f"{self.name}: no data for {waited:g} s (stalled)") from exc
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.name}: {describe_error(exc)}") from exc

    def close(self) -> None:
        """Disconnect; safe to call more than once."""
        container, self._container = self._container, None
        if container is None:
            return
        try:
            container.close()
        except (av.error.FFmpegError, OSError):
            log.debug("closing %s failed", self.name, exc_info=True)

    def _connect(self) -> av.container.InputContainer:
        target, kwargs = self._target()
        try:
            container: av.container.InputContainer = av.open(target, **kwargs)
        except (av.error.FFmpegError, OSError) as exc:
            raise SourceError(f"{self.name}: cannot open ({describe_error(exc)})") from exc
        if not container.streams.video:
            container.close()
            raise SourceError(f"{self.name}: has no video stream")
        return container

    def _target(self) -> tuple[str, dict[str, Any]]:
        cfg = self.config
        timeouts = (cfg.open_timeout_s, min(cfg.read_timeout_s, cfg.stall_timeout_s))
        if is_webcam(self.uri):
            device = self.uri if self.uri.startswith("/dev/") else f"/dev/video{self.uri}"
            return device, {"format": "v4l2", "timeout": timeouts}
        # Read [live] analyze_s of stream (0.1 s), not FFmpeg's 5 s default, to learn the
        # format: each connection (the parent's probe, then the decode stage's) costs about
        # that much more, and the burst of already-stale frames it delivers first is
        # shorter. H.264 over RTSP carries its size in the SDP; a stream whose size is not
        # known after that still opens (the probe then decodes a frame for it).
        # (fflags=nobuffer would also drop the first keyframe: frames start a GOP later.)
        options = {"analyzeduration": str(round(cfg.analyze_s * 1_000_000))}
        if self.uri.lower().startswith(("rtsp://", "rtsps://")):
            options["rtsp_transport"] = cfg.rtsp_transport
        return self.uri, {"options": options, "timeout": timeouts}
