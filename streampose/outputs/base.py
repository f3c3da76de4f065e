"""What every sink shares: the frame's identity (:class:`FrameMeta`) and the Sink base.

The render stage hands every sink each frame, in order per stream, after drawing. Image
sinks use the annotated frame; data sinks use the poses (in frame pixels) and the frame's
identity. A sink is a :class:`~streampose.lifecycle.Resource`: ``open()`` in the render
process creates the output, ``close()`` (idempotent) leaves a valid file whatever was
written. See ARCHITECTURE.md for where sinks sit in a frame's path.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from streampose.lifecycle import Resource
from streampose.pose import Poses

if TYPE_CHECKING:
    from streampose.events.event import Event

__all__ = ["FrameMeta", "Sink", "image_id"]


@dataclass(frozen=True, slots=True)
class FrameMeta:
    """Who a frame is: stream, source frame index, times, its name for image sources, and
    its camera's name in a run from a cameras file (``--cameras``); ``size``: the
    frame's (width, height) when it differs from the stream's frame before (the first
    frame: from the size probed at the start), else None: the source picture's, as the
    poses sinks get are (a frame decode scaled down to ``--max-frame-size`` is drawn,
    and so recorded, at the scaled size)."""

    stream: int
    frame: int
    pts: int
    pts_s: float
    wall: float
    image_id: int
    name: str | None = None
    camera: str | None = None
    size: tuple[int, int] | None = None


def image_id(name: str | None, index: int) -> int:
    """COCO style: the integer file stem when it is all digits, else the running index."""
    if name is not None:
        stem = Path(name).stem
        if stem.isdigit():
            return int(stem)
    return index


class Sink(Resource):
    """Base of every output: sinks override ``write`` and what else they need.

    ``wants_image``: whether the render stage must draw the frame for this sink.
    ``wants_events``: whether the render stage hands it each frame's events
    (:meth:`write_events`, after :meth:`write`); sinks without it are never called.
    :meth:`frame_done` ends every frame (a sink that sends the frame with its events).
    """

    wants_image = False
    wants_events = False

    def open(self) -> None:
        """Create the output (runs in the render process)."""

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        raise NotImplementedError

    def write_events(self, meta: FrameMeta, events: Sequence[Event]) -> None:
        """The events of the frame ``meta`` (never empty; only if ``wants_events``)."""

    def frame_done(self, meta: FrameMeta) -> None:
        """Everything of the frame ``meta`` is written (after :meth:`write` and any
        :meth:`write_events`)."""

    def close(self) -> None:
        """Finish the output; must leave a valid file whatever was written. Idempotent."""
