"""streampose: real-time multi-person pose estimation on video streams."""

from __future__ import annotations

__version__ = "0.1.0"
