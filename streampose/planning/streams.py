"""The streams of a run plan: every source probed (or, with changing seats, one stand-in
per seat sized for any camera), the largest frame each one's buffers hold (its
``bound``: ``--max-frame-size``; a source that grows past it is scaled down by decode),
and the network inputs their frames give. Part of
:func:`streampose.planning.validate.validate`."""

from __future__ import annotations

import logging
from dataclasses import replace

from streampose.cameras.seats import SEAT_MAX_ASPECT
from streampose.config import PipelineConfig
from streampose.config.sections import parse_size
from streampose.errors import ConfigError
from streampose.planning.work_items import MAX_WHOLE_PIXELS, ItemPlanner
from streampose.pose.letterbox import Letterbox
from streampose.sources.base import SourceInfo
from streampose.sources.live import LIVE_TIME_BASE
from streampose.sources.probe import LIVE_DEFAULT_SIZE, ProbedSource, probe_source
from streampose.uri import is_image_uri, redact

log = logging.getLogger(__name__)

__all__ = ["FILE_MIN_FRAME", "LIVE_MAX_FRAME", "bounded", "plan_streams"]


LIVE_MAX_FRAME = (3840, 2160)  # a live stream's frame buffers by default (--max-frame-size)
FILE_MIN_FRAME = (1920, 1080)  # a file's buffers hold at least this (a file may grow)


def plan_streams(config: PipelineConfig, work: ItemPlanner
                 ) -> tuple[tuple[ProbedSource, ...], frozenset[Letterbox]]:
    """Every stream's probed source, bounded (:func:`bounded`), and the letterboxes of
    its frames (whole frames or tiles, ``work``); a changing seat, or a camera down at
    start, keeps a reserve for frames up to 2:1 wide."""
    _check_cameras(config)
    configured = _configured_max(config)
    if config.cameras_change:  # changing seats: sized for any camera, none probed
        sources = tuple(bounded(s, configured) for s in _seat_sources(config))
    else:
        autorotate = config.performance.autorotate
        sources = tuple(bounded(probe_source(uri, live=config.live_for(i),
                                             autorotate=autorotate), configured)
                        for i, uri in enumerate(config.sources))
    unknown = [s.slot_size for s in sources if config.cameras_change or not s.known]
    wide = work.letterboxes([(int(SEAT_MAX_ASPECT * h), h) for _, h in unknown])
    return sources, _letterbox_plans(sources, work) | wide


def bounded(source: ProbedSource, configured: tuple[int, int] | None) -> ProbedSource:
    """``source`` with the frame size its buffers hold (``bound``): ``configured``
    (``--max-frame-size``) or 3840x2160 for live streams, 1920x1080 for files, oriented
    as the source is and never below its probed size; images have none (every size is
    known). A camera that was down is sized at the bound until its first frame."""
    if source.is_images:
        return source
    if not source.known:
        width, height = configured or LIVE_MAX_FRAME
        info = replace(source.info, width=width, height=height)
        return replace(source, info=info, sizes=((width, height),), bound=(width, height))
    floor = configured or (LIVE_MAX_FRAME if source.live else FILE_MIN_FRAME)
    width, height = source.slot_size
    if (width >= height) != (floor[0] >= floor[1]):
        floor = (floor[1], floor[0])
    return replace(source, bound=(max(width, floor[0]), max(height, floor[1])))


def _configured_max(config: PipelineConfig) -> tuple[int, int] | None:
    text = config.performance.max_frame_size
    return None if text is None else parse_size(
        text, "--max-frame-size / [performance].max_frame_size")


def _letterbox_plans(sources: tuple[ProbedSource, ...], work: ItemPlanner
                     ) -> frozenset[Letterbox]:
    """Every network input the sources' frames give (whole frames or their tiles)."""
    sizes = {size for s in sources for size in s.planned_sizes}
    for width, height in sorted(size for size in sizes if work.oversized(*size)):
        log.warning("%dx%d frames at this person height or --height need a network input "
                    "over %.1f megapixels: they are cut into tiles (a larger "
                    "--min-person-height, e.g. a share such as 11%%, is cheaper)",
                    width, height, MAX_WHOLE_PIXELS / 1e6)
    return work.letterboxes(sizes)


def _seat_sources(config: PipelineConfig) -> tuple[ProbedSource, ...]:
    """One stand-in per seat: a live source of the largest size a seat holds
    (1920x1080, or the largest of the first cameras, probed; larger frames are scaled to
    fit); the first cameras' URLs (redacted) where known."""
    # a camera that is down now is no reason to stop: it may be fixed or removed later
    lives = [replace(config.live_for(i), reconnect=True) for i in range(len(config.cameras))]
    sizes = [LIVE_DEFAULT_SIZE] + [size for c, live in zip(config.cameras, lives, strict=True)
                                   for size in probe_source(c.url, live=live).sizes]
    width, height = max(w for w, _ in sizes), max(h for _, h in sizes)
    idle = config.streams - len(config.cameras)
    uris = [redact(c.url) for c in config.cameras] + [""] * idle
    return tuple(ProbedSource(SourceInfo(uri=uri, width=width, height=height,
                                         time_base=LIVE_TIME_BASE, fps=None, frames=None,
                                         live=True), ((width, height),), live=True)
                 for uri in uris)


def _check_cameras(config: PipelineConfig) -> None:
    """A cameras file's cameras are single streams: a live URL, a webcam or a video
    file, not a set of images."""
    for camera in config.cameras:
        if not camera.is_live and is_image_uri(camera.url):
            raise ConfigError(f"camera {camera.name!r}: {camera.url} is images; a camera is "
                              "a live URL, a webcam or a video file")
