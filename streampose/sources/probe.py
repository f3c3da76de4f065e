"""Probing: what the parent learns about a source before any stage starts.

:func:`probe_source` opens a source once in the calling process to check it and learn its
frame sizes (every image's, for image sources) and names; a live source that is down is
not an error when it may reconnect (the decode stage keeps retrying), and a source error
with ``--no-reconnect``. A malformed URL is a ConfigError before anything is opened.
:func:`probe_video` counts a file's frames exactly, for checking outputs. See
ARCHITECTURE.md (sources).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from fractions import Fraction
from pathlib import Path

import av.error

from streampose.config.sections import LiveConfig
from streampose.errors import SourceError, describe_error
from streampose.sources.base import Source, SourceInfo
from streampose.sources.factory import SOURCES, create_source
from streampose.sources.live import LIVE_TIME_BASE
from streampose.sources.video import open_input, positive, video_stream
from streampose.uri import check_url, redact

__all__ = ["LIVE_DEFAULT_SIZE", "ProbedSource", "probe_source", "probe_video"]

log = logging.getLogger(__name__)

LIVE_DEFAULT_SIZE = (1920, 1080)  # stand-in size of a camera that is down at start-up


@dataclass(frozen=True)
class ProbedSource:
    """What the parent learnt about a source before starting: sizes, names, timing.

    ``known``: False for a camera that was down (its size a stand-in until its first
    frame); ``bound``: the (width, height) its frame buffers hold (set by planning,
    :func:`streampose.planning.streams.plan_streams`; None: its largest size).
    """

    info: SourceInfo
    sizes: tuple[tuple[int, int], ...]
    names: tuple[str, ...] | None = None
    live: bool = False
    known: bool = True
    bound: tuple[int, int] | None = None

    @property
    def slot_size(self) -> tuple[int, int]:
        """The largest (width, height) of a frame kept as it is (larger ones are scaled)."""
        if self.bound is not None:
            return self.bound
        return max(self.sizes, key=lambda size: size[0] * size[1])

    @property
    def planned_sizes(self) -> tuple[tuple[int, int], ...]:
        """The frame sizes buffers are planned for: its sizes and its bound."""
        return self.sizes if self.bound is None else (*self.sizes, self.bound)

    @property
    def is_images(self) -> bool:
        return self.names is not None

    @property
    def stem(self) -> str:
        return Path(self.info.uri.rstrip("/")).stem or "source"


def probe_source(uri: str, *, live: LiveConfig | None = None,
                 autorotate: bool = True) -> ProbedSource:
    """Open ``uri`` once to check it; a live source that is down starts anyway if it may
    reconnect (``live.reconnect``; ``known`` False), else SourceError. ``autorotate``:
    a file's sizes as displayed (its display matrix applied)."""
    check_url(uri)
    try:
        source = create_source(uri, live=live)
        source.autorotate = autorotate
        with source:
            names = None if source.names is None else tuple(source.names)
            info, sizes = source.info, tuple(source.sizes())
            if info.live and not all(w > 0 and h > 0 for w, h in sizes):
                info, sizes = _size_from_a_frame(source)
            return ProbedSource(info, sizes, names, live=info.live)
    except SourceError as exc:
        if not SOURCES.kind_for(uri).live or (live is not None and not live.reconnect):
            raise
        width, height = LIVE_DEFAULT_SIZE
        log.warning("%s: not reachable yet; will keep retrying (sized from its first "
                    "frame)", exc)
        info = SourceInfo(uri=redact(uri), width=width, height=height,
                          time_base=LIVE_TIME_BASE, fps=None, frames=None, live=True)  # fmt: skip
        return ProbedSource(info, ((width, height),), live=True, known=False)


def _size_from_a_frame(source: Source) -> tuple[SourceInfo, tuple[tuple[int, int], ...]]:
    """A live stream whose open did not learn the frame size (FFmpeg's probe can give up
    before the stream's parameters arrive, e.g. on a loaded machine): decode one frame
    to learn it. SourceError if the stream ends or fails first."""
    for frame in source.frames():
        height, width = frame.image.shape[:2]
        return replace(source.info, width=width, height=height), ((width, height),)
    raise SourceError(f"{source.info.uri}: ended before its first frame")


def probe_video(path: str | Path) -> tuple[int, Fraction | None, int, int]:
    """``(frames, average fps, width, height)`` of a video file's first video stream.

    Frames are counted from the demuxed packets (one per frame, nothing decoded), so
    this is exact and cheap; for checking outputs in tests and tools.
    """
    uri = str(path)
    with open_input(Path(path), uri) as container:
        stream = video_stream(container, uri)
        try:
            count = sum(1 for packet in container.demux(stream) if packet.size)
        except av.error.FFmpegError as exc:
            raise SourceError(f"{uri}: cannot read packets ({describe_error(exc)})") from exc
        width, height = stream.codec_context.width, stream.codec_context.height
        return count, positive(stream.average_rate), width, height
