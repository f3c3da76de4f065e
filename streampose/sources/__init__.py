"""streampose.sources: one protocol for every frame source; see ARCHITECTURE.md (sources).

``open_source(uri)`` gives a :class:`Source` for a video file, an image folder, glob or
single image, or a live URL/webcam; every source is a Resource with
``open() -> SourceInfo`` and ``frames() -> Iterator[Frame]``.
"""

from __future__ import annotations

from streampose.sources.base import Frame, Source, SourceInfo
from streampose.sources.factory import create_source, open_source
from streampose.sources.images import ImageSource
from streampose.sources.live import LIVE_TIME_BASE, LiveSource
from streampose.sources.probe import ProbedSource, probe_source, probe_video
from streampose.sources.video import VideoFileSource
from streampose.timestamps import MonotonicPts
from streampose.uri import IMAGE_EXTENSIONS, is_image_uri, is_live_uri, redact

__all__ = [
    "IMAGE_EXTENSIONS",
    "LIVE_TIME_BASE",
    "Frame",
    "ImageSource",
    "LiveSource",
    "MonotonicPts",
    "ProbedSource",
    "Source",
    "SourceInfo",
    "VideoFileSource",
    "create_source",
    "is_image_uri",
    "is_live_uri",
    "open_source",
    "probe_source",
    "probe_video",
    "redact",
]
