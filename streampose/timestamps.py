"""Presentation timestamps: keep them strictly increasing, and one frame's duration."""

from __future__ import annotations

import logging
from fractions import Fraction

__all__ = ["MonotonicPts", "frame_step"]

log = logging.getLogger(__name__)


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


def frame_step(fps: Fraction | None, time_base: Fraction) -> int:
    """One frame duration in ``time_base`` units (1 when the rate is unknown)."""
    return max(1, round(1 / (fps * time_base))) if fps else 1
