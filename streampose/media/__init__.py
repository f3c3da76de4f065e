"""streampose.media: video/image sources and the video writer (PyAV, OpenCV)."""

from __future__ import annotations

from streampose.media.source import (
    IMAGE_EXTENSIONS,
    DecodedFrame,
    ImageSource,
    SourceInfo,
    VideoFileSource,
    is_image_uri,
    open_source,
    probe_video,
)
from streampose.media.writer import VideoWriter

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodedFrame",
    "ImageSource",
    "SourceInfo",
    "VideoFileSource",
    "VideoWriter",
    "is_image_uri",
    "open_source",
    "probe_video",
]
