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

from streampose.errors import ConfigError
from streampose.lifecycle import Resource

__all__ = [
    "Frame",
    "MonotonicPts",
    "Source",
    "SourceInfo",
    "check_int",
    "error_reason",
    "frame_step",
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

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of the frames to expect; images override it (one per image)."""
        return [(self.info.width, self.info.height)]


class MonotonicPts:
    """Keeps timestamps strictly increasing.

    A missing pts, or one not above the previous, becomes ``previous + step`` (``0`` for
    the first frame); ``fixed`` counts the replacements, the first one is logged.
    """

    def __init__(self, *, step: int, what: str) -> None:
        self.step = max(1, int(step))
        self.what = what
        self.last: int | None = None
        self.fixed = 0
        self._warned = False

    def next(self, pts: int | None) -> int:
        """The pts to use for the next frame, given the one it came with."""
        if pts is None or (self.last is not None and pts <= self.last):
            pts = self._replace(pts)
        self.last = int(pts)
        return self.last

    def _replace(self, pts: int | None) -> int:
        if pts is not None and not self._warned:
            self._warned = True
            log.warning("%s: pts %d after %d is not increasing; replaced by previous + %d "
                        "(logged once)", self.what, pts, self.last, self.step)  # fmt: skip
        self.fixed += 1
        return 0 if self.last is None else self.last + self.step


def check_int(owner: str, name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` if it is an int in ``[low, high]``, else a ConfigError naming it."""
    if isinstance(value, int) and not isinstance(value, bool) and value >= low \
            and (high is None or value <= high):
        return value
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise ConfigError(f"{owner}: {name} = {value!r} must be an integer {allowed}")


def frame_step(fps: Fraction | None, time_base: Fraction) -> int:
    """One frame duration in ``time_base`` units (1 when the rate is unknown)."""
    return max(1, round(1 / (fps * time_base))) if fps else 1


def error_reason(exc: BaseException) -> str:
    """The short human part of a PyAV/OS error: no errno, no file name, one line."""
    text = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
    return text.splitlines()[0]
