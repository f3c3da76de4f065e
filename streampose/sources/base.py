"""The one source protocol: :class:`Source` (a Resource), :class:`SourceInfo`, :class:`Frame`.

Every source has ``open() -> SourceInfo``, ``frames() -> Iterator[Frame]`` and an
idempotent ``close()``, and is a context manager. ``open()`` validates the input and
raises one clear :class:`~streampose.errors.SourceError` (a one-line message that starts
with the source's name); PyAV's own exceptions never escape raw, they are kept as
``__cause__``. Frames are HxWx3 uint8 BGR, C-contiguous, with integer ``pts`` in
``SourceInfo.time_base``. See ARCHITECTURE.md (sources).
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction

import numpy as np

from streampose.lifecycle import Resource

__all__ = [
    "Frame",
    "Source",
    "SourceInfo",
]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class SourceInfo:
    """What a source delivers, known after ``open()`` and before the first frame."""

    uri: str  # as given (files: the path; live: credentials redacted)
    width: int
    height: int
    time_base: Fraction  # of the pts values yielded
    fps: Fraction | None  # average frame rate, if known
    frames: int | None  # frame count (from the container, or estimated), None if unknown
    live: bool = False
    rotation: int = 0  # degrees counter-clockwise the stored pictures are turned (upright)
    display_rotation: int = 0  # degrees the display matrix turns pictures left as stored


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame: BGR pixels, its timestamp and its position in decode order.

    ``wall`` is the capture time (``time.time()``) when the source knows it (live
    sources), else None: the decode stage stamps the time it hands the frame on.
    """

    image: np.ndarray  # HxWx3 uint8 BGR, C-contiguous
    pts: int  # in SourceInfo.time_base
    index: int  # 0-based decode order (live: since the connection opened)
    wall: float | None = None


class Source(Resource, ABC):
    """The interface of every source, and its context-manager plumbing."""

    uri: str
    names: list[str] | None = None  # per-frame names (image files), else None
    autorotate: bool = True  # turn pictures upright where the source knows how (files)
    _info: SourceInfo | None = None

    @abstractmethod
    def open(self) -> SourceInfo:
        """Validate the input (connect, for live sources) and describe it; idempotent."""

    @abstractmethod
    def frames(self) -> Iterator[Frame]:
        """The frames in order (opens the source if needed)."""

    @abstractmethod
    def close(self) -> None:
        """Release what ``open()`` holds; idempotent (``open()`` may be called again)."""

    @property
    def info(self) -> SourceInfo:
        """The SourceInfo of the last ``open()`` (still there after ``close()``)."""
        if self._info is None:
            raise RuntimeError(f"{type(self).__name__}: open() has not been called")
        return self._info

    @property
    def decode_errors(self) -> int:
        """Damaged packets or unreadable images skipped so far (see ``sources/damage.py``)."""
        return 0

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of the frames to expect; images override it (one per image)."""
        return [(self.info.width, self.info.height)]


