"""streampose.media: video/image sources (PyAV, OpenCV)."""

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

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodedFrame",
    "ImageSource",
    "SourceInfo",
    "VideoFileSource",
    "is_image_uri",
    "open_source",
    "probe_video",
]
