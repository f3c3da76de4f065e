"""The messages stages exchange: small records, never bulk data.

* :class:`FrameHeader` travels with every item through the frame, input and map rings
  (packed by :data:`FRAME_CODEC` into the ring's per-slot header record): which frame of
  which stream, its timing, its letterbox transform, the per-stream ``ticket`` that
  restores order after parallel workers, the payload's shape and dtype, and the lease on
  the decoded frame (:class:`FrameRef`). Between preprocess and render one header is one
  *work item*: a crop of the frame (the whole frame, a tile, a region) at one scale,
  ``item`` of the frame's ``items`` (all sharing its ticket), ``crop`` its rectangle in
  the frame; its ``transform`` maps the item's network input back to frame pixels, the
  crop's offset folded in. ``source_size``/``source_scale``: the source picture's size
  and the factor from the frame's pixels to its pixels, when decode scaled (or padded)
  the frame to fit its slot (:class:`~streampose.stages.frame_fit.FrameFit`).
  :data:`FLAG_PASS` marks an item that no network runs on (render still gets the frame,
  with no people).
* :class:`PoseResult` goes from postprocess to render through a queue.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from fractions import Fraction
from typing import NamedTuple

import numpy as np

__all__ = [
    "FLAG_DETACH",
    "FLAG_DROPPED_BEFORE",
    "FLAG_EOS",
    "FLAG_PASS",
    "FLAG_RECONNECTED",
    "FRAME_CODEC",
    "FrameCodec",
    "FrameHeader",
    "FrameRef",
    "PoseResult",
]

FLAG_EOS = 1  # end of the stream (or, with stream -1, end of all work for a worker)
FLAG_DROPPED_BEFORE = 2  # live: frames of this stream were dropped just before this one
FLAG_RECONNECTED = 4  # live: first frame after a reconnection
# With FLAG_EOS: not the end of the stream but of its camera; the seat carries the
# next camera assigned to it (cameras/seats.py). ``pts`` holds the seat's generation.
FLAG_DETACH = 8
# A pass-through work item: infer forwards it without running the model, postprocess
# turns it into no people (a still frame, an interval frame); render gets the frame.
FLAG_PASS = 16

MAX_NDIM = 4
_DTYPES = ("uint8", "float32", "float16")


class FrameRef(NamedTuple):
    """A lease on a decoded frame: slot ``slot`` of frame ring ``ring`` (the stream's).

    Decode takes the slot; preprocess (and device processing) read it in place; render
    draws on it, writes it, and releases it.
    """

    ring: int
    slot: int


NO_FRAME = FrameRef(-1, -1)


@dataclass(frozen=True, slots=True)
class FrameHeader:
    """One item's metadata, as it travels through the rings."""

    stream: int = 0
    seq: int = 0
    pts: int = 0
    time_base: Fraction = Fraction(1, 1)
    wall: float = 0.0  # capture time, unix seconds
    width: int = 0  # of the decoded frame
    height: int = 0
    flags: int = 0
    frame: FrameRef = NO_FRAME
    shape: tuple[int, ...] = ()  # of this ring's payload
    dtype: str = "uint8"
    transform: tuple[float, float, float, float] = (1.0, 1.0, 0.0, 0.0)  # sx, sy, px, py
    ticket: int = 0  # per-stream gapless order after preprocess (for re-ordering results)
    item: int = 0  # this work item's index among its frame's items
    items: int = 1  # how many work items the frame gave (all with the frame's ticket)
    crop: tuple[int, int, int, int] = (0, 0, 0, 0)  # the item's x, y, w, h in the frame
    # The source picture's (width, height) when decode fitted the frame to its slot
    # (scaled down, or padded); (0, 0): the frame is the source picture as it came.
    source_size: tuple[int, int] = (0, 0)
    source_scale: tuple[float, float] = (1.0, 1.0)  # frame pixels -> source pixels, x, y

    @property
    def eos(self) -> bool:
        """True for an end-of-stream item."""
        return bool(self.flags & FLAG_EOS)

    @property
    def detach(self) -> bool:
        """True for the end of a camera in a seat (an EOS that is not the end)."""
        return bool(self.flags & FLAG_DETACH)

    @property
    def passthrough(self) -> bool:
        """True for a work item no network runs on (:data:`FLAG_PASS`)."""
        return bool(self.flags & FLAG_PASS)

    @property
    def source(self) -> tuple[int, int]:
        """The source picture's (width, height): the frame's own unless decode fitted it."""
        return self.source_size if self.source_size != (0, 0) else (self.width, self.height)

    @property
    def rescaled(self) -> bool:
        """True when the frame's pixels are not the source's (decode scaled it down)."""
        return self.source_scale != (1.0, 1.0)

    @property
    def frame_shape(self) -> tuple[int, int, int]:
        """Shape of the decoded BGR frame the item refers to."""
        return (self.height, self.width, 3)


class FrameCodec:
    """Packs a :class:`FrameHeader` into a fixed binary record (a ring's header codec)."""

    # stream, seq, pts, tb_num, tb_den, wall, width, height, flags, frame ring, frame slot,
    # ndim, dtype code, 2 pad bytes, shape[4], transform[4], ticket, item, items, crop[4],
    # source size[2], source scale[2].
    _STRUCT = struct.Struct("<qqqqqdiiiiiBB2x4q4dqii4i2i2d")

    def __init__(self) -> None:
        self._tb = (1, 1, Fraction(1, 1))  # re-used Fraction: a stream's time base rarely changes

    @property
    def size(self) -> int:
        return self._STRUCT.size

    def pack_into(self, buf: memoryview, offset: int, h: FrameHeader) -> None:
        ndim = len(h.shape)
        if ndim > MAX_NDIM:
            raise ValueError(f"header shape {h.shape} has {ndim} dims; at most {MAX_NDIM}")
        if h.dtype not in _DTYPES:
            raise ValueError(f"header dtype {h.dtype!r} not supported; use one of {_DTYPES}")
        shape = (*h.shape, 0, 0, 0, 0)[:MAX_NDIM]
        tb = h.time_base
        self._STRUCT.pack_into(
            buf, offset, h.stream, h.seq, h.pts, tb.numerator, tb.denominator, h.wall,
            h.width, h.height, h.flags, h.frame.ring, h.frame.slot, ndim,
            _DTYPES.index(h.dtype), *shape, *h.transform, h.ticket, h.item, h.items, *h.crop,
            *h.source_size, *h.source_scale)

    def unpack_from(self, buf: memoryview, offset: int) -> FrameHeader:
        (stream, seq, pts, num, den, wall, width, height, flags, ring, slot, ndim, code,
         s0, s1, s2, s3, sx, sy, px, py, ticket, item, items, cx, cy, cw, ch, ow, oh,
         ox, oy) = self._STRUCT.unpack_from(buf, offset)
        return FrameHeader(
            stream=stream, seq=seq, pts=pts, time_base=self._time_base(num, den), wall=wall,
            width=width, height=height, flags=flags, frame=FrameRef(ring, slot),
            shape=(s0, s1, s2, s3)[:ndim], dtype=_DTYPES[code], transform=(sx, sy, px, py),
            ticket=ticket, item=item, items=items, crop=(cx, cy, cw, ch),
            source_size=(ow, oh), source_scale=(ox, oy))

    def _time_base(self, num: int, den: int) -> Fraction:
        entry = self._tb  # one tuple, swapped in one store: threads never see a mismatch
        if entry[0] != num or entry[1] != den:
            entry = self._tb = (num, den, Fraction(num, den))
        return entry[2]

    def __reduce__(self) -> tuple[type[FrameCodec], tuple[()]]:
        return FrameCodec, ()  # a fresh cache in each process


FRAME_CODEC = FrameCodec()


@dataclass(frozen=True, slots=True)
class PoseResult:
    """Postprocess -> render: a frame's people in frame pixels, or an end-of-stream mark.

    ``header.frame`` is the leased frame slot; ``header.ticket`` orders results of one
    stream, so several postprocess workers can run in parallel. A frame cut into several
    work items gives one result per item (``header.item`` of ``header.items``); render's
    ticket order merges them into the frame's one result.
    """

    header: FrameHeader
    keypoints: np.ndarray | None = None
    scores: np.ndarray | None = None
    boxes: np.ndarray | None = None  # (P, 4) x1, y1, x2, y2 when the model gives boxes

    @property
    def inferred(self) -> bool:
        """False for a pass-through item's result (no network ran on the frame: its
        people are carried by render from the frame before)."""
        return not self.header.passthrough
