"""The streams of a run plan: every source probed (or, with changing seats, one stand-in
per seat sized for any camera) and the network inputs their frames give. Part of
:func:`streampose.planning.validate.validate`."""

from __future__ import annotations

from dataclasses import replace

from streampose.cameras.seats import SEAT_MAX_ASPECT
from streampose.config import PipelineConfig
from streampose.errors import ConfigError
from streampose.planning.work_items import ItemPlanner
from streampose.pose.letterbox import Letterbox
from streampose.sources.base import SourceInfo
from streampose.sources.live import LIVE_TIME_BASE
from streampose.sources.probe import LIVE_DEFAULT_SIZE, ProbedSource, probe_source
from streampose.uri import is_image_uri, redact

__all__ = ["plan_streams"]


def plan_streams(config: PipelineConfig, work: ItemPlanner
                 ) -> tuple[tuple[ProbedSource, ...], frozenset[Letterbox]]:
    """Every stream's probed source and the letterboxes of its frames (whole frames or
    tiles, ``work``); a changing seat keeps a reserve for frames up to 2:1 wide."""
    _check_cameras(config)
    if config.cameras_change:  # changing seats: sized for any camera, none probed
        sources = _seat_sources(config)
        height = sources[0].sizes[0][1]
        wide = int(SEAT_MAX_ASPECT * height)
        return sources, _letterbox_plans(sources, work) | work.letterboxes([(wide, height)])
    sources = tuple(probe_source(uri, live=config.live_for(i))
                    for i, uri in enumerate(config.sources))
    return sources, _letterbox_plans(sources, work)


def _letterbox_plans(sources: tuple[ProbedSource, ...], work: ItemPlanner
                     ) -> frozenset[Letterbox]:
    """Every network input the sources' frames give (whole frames or their tiles)."""
    return work.letterboxes({size for s in sources for size in s.sizes})


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
