"""Frames into a stream's frame-ring slots, whatever size they come at.

A stream's slots hold frames up to its ``bound`` (``--max-frame-size``, see
:func:`streampose.planning.streams.bounded`). :class:`FrameFit` passes every frame that
fits as it is (its pixels, and so the poses' coordinates, are the source's); a larger
one (a source that changed resolution past the bound) is scaled down with its aspect
ratio kept and counted (``rescaled``). A change of size is logged once, with the old and
the new size. ``max_aspect`` (a stream whose network inputs were planned before its
camera was known): a frame wider than that gets black rows at the bottom (its pixels,
and the poses' coordinates, unchanged).

What a frame was before it was fitted travels with it (:attr:`FrameFit.placed`, which
decode puts in the frame's header: ``FrameHeader.source_size``/``source_scale``): the
source picture's size and the factor from the slot's pixels back to the source's.
Inference, tracking and drawing work on the frame as it is in its slot; render maps the
poses it hands to the outputs and the event rules back to the source's pixels.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import TYPE_CHECKING, NamedTuple, Protocol

import numpy as np

from streampose.pose import Poses
from streampose.transport.messages import FrameHeader

if TYPE_CHECKING:  # render imports to_source: no PyAV there (streampose.sources has it)
    from streampose.sources import Frame

__all__ = ["FrameFit", "Placed", "to_source"]

log = logging.getLogger(__name__)


class Counting(Protocol):
    """What FrameFit reports to: the decode stage (its name and counters)."""

    name: str

    def count(self, name: str, n: int = 1) -> None: ...


class Placed(NamedTuple):
    """A fitted frame's source picture: its (width, height), and the factor per axis
    from the fitted frame's pixels to its pixels ((1.0, 1.0): only padded)."""

    size: tuple[int, int]
    scale: tuple[float, float]


class FrameFit:
    """Fits each frame of one stream into its slots; see the module notes."""

    def __init__(self, *, bound: tuple[int, int], max_aspect: float | None = None) -> None:
        self.bound, self.max_aspect = bound, max_aspect
        self.size: tuple[int, int] | None = None  # the source's size of the last frame
        self.placed: Placed | None = None  # the last frame's source, when it was fitted

    def __call__(self, stage: Counting, frame: Frame) -> Frame:
        """``frame``, scaled down if it is larger than the bound, padded if too wide
        (:attr:`placed` says what it was then; None: it is as it came)."""
        h, w = frame.image.shape[:2]
        old, self.size, scale = self.size, (w, h), (1.0, 1.0)
        if w > self.bound[0] or h > self.bound[1]:
            frame, scale = self._scaled(frame)
            stage.count("rescaled")
        if old != (w, h) and (old is not None or frame.image.shape[:2] != (h, w)):
            self._log(stage.name, old, (w, h), frame.image.shape[1::-1])
        frame = self._padded(frame)
        self.placed = None if frame.image.shape[:2] == (h, w) else Placed((w, h), scale)
        return frame

    def _scaled(self, frame: Frame) -> tuple[Frame, tuple[float, float]]:
        """``frame`` scaled into the bound, and the factor per axis back to its size."""
        import cv2  # only here: a decode process needs no OpenCV otherwise

        h, w = frame.image.shape[:2]
        scale = min(self.bound[0] / w, self.bound[1] / h)
        size = (max(1, int(w * scale)), max(1, int(h * scale)))
        image = cv2.resize(frame.image, size, interpolation=cv2.INTER_AREA)
        return dataclasses.replace(frame, image=image), (w / size[0], h / size[1])

    def _padded(self, frame: Frame) -> Frame:
        h, w = frame.image.shape[:2]
        if self.max_aspect is None or w <= self.max_aspect * h:
            return frame
        tall = min(self.bound[1], math.ceil(w / self.max_aspect))
        image = np.zeros((tall, w, 3), np.uint8)
        image[:h] = frame.image
        return dataclasses.replace(frame, image=image)

    def _log(self, name: str, old: tuple[int, int] | None, new: tuple[int, int],
             kept: tuple[int, ...]) -> None:
        was = f" (was {old[0]}x{old[1]})" if old is not None else ""
        scaled = "" if tuple(kept) == new else (
            f"; scaled to {kept[0]}x{kept[1]} to fit the {self.bound[0]}x{self.bound[1]} "
            "frame buffers (--max-frame-size)")
        log.warning("%s: frames are now %dx%d%s%s", name, new[0], new[1], was, scaled)


def to_source(poses: Poses, header: FrameHeader) -> Poses:
    """``poses`` found on the frame of ``header`` in its source picture's pixels (pixel
    centres on integers, as cv2.resize places them): ``poses`` themselves when decode
    did not scale the frame."""
    if not header.rescaled:
        return poses
    (sx, sy), (width, height) = header.source_scale, header.source
    return poses.transformed(scale=(sx, sy), offset=(0.5 * (sx - 1), 0.5 * (sy - 1))
                             ).clipped(width=width, height=height)
