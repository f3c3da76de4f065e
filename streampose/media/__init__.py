"""streampose.media: the video writer (PyAV). Sources live in :mod:`streampose.sources`."""

from __future__ import annotations

from streampose.media.writer import VideoWriter

__all__ = ["VideoWriter"]
