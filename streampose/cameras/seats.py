"""Seats: which camera each of the run's pre-allocated streams carries.

Every run has one seat per stream, whose rings and stages exist from the start, and a
:class:`SeatTable` saying which camera each seat carries. The parent alone writes it;
the stages read it. What differs between runs is data, the table's ``changing``:

- a fixed run (sources, or a cameras file read once) assigns each seat its camera
  once, before any stage starts (:meth:`SeatTable.for_lineup`), and never again: a
  camera's end is its seat's end;
- a run whose cameras come and go (``--max-streams N``, a watched cameras file) starts
  with its first cameras assigned by the parent's
  :class:`~streampose.cameras.assigner.CameraAssigner`, which assigns and releases seats
  while the run goes on.

Either way:

- the seat's decode stage polls its seat's ``generation`` at every step; when it
  changes, it stops the camera it was reading (and queues a detach marker, an EOS item
  with ``FLAG_DETACH`` whose ``pts`` is the new generation) and starts the camera now
  assigned, if any;
- the render stage, when the first frame after a detach (or the start) comes, reads the
  seat's camera (its name, recording and drawing options); when the detach marker comes
  (after every frame of that camera), it closes that camera's recording and reports the
  seat ``drained`` up to that generation;
- the parent gives a removed camera's seat to a new camera only once it is drained, so a
  seat carries at most one camera's frames at a time.

Shared memory of fixed size: a generation, an "assigned" flag and the camera (JSON,
at most :data:`CAMERA_BYTES`) per seat, one lock for the writes and the reads of a whole
entry (rare: a generation is read without it).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Sequence
from typing import Any

from streampose.config.camera import Camera
from streampose.config.lineup import Lineup, StreamCamera
from streampose.errors import ConfigError

__all__ = ["CAMERA_BYTES", "SEAT_MAX_ASPECT", "SeatTable"]

CAMERA_BYTES = 4096
SEAT_MAX_ASPECT = 2.0  # a changing seat's buffers hold network inputs up to 2:1 wide


class SeatTable:
    """Seat -> camera, written by the parent, read by the stages (see the module doc).

    ``changing``: whether a seat's camera may change while the run goes on (else each
    seat keeps the camera it was given at the start, and that camera's end is the
    seat's)."""

    def __init__(self, *, seats: int, ctx: Any, changing: bool = True) -> None:
        self.seats, self.changing = seats, changing
        self._lock = ctx.Lock()
        self._generation = ctx.Array("q", seats, lock=False)
        self._assigned = ctx.Array("b", seats, lock=False)
        self._drained = ctx.Array("q", seats, lock=False)
        self._length = ctx.Array("i", seats, lock=False)
        self._camera = ctx.Array("c", seats * CAMERA_BYTES, lock=False)

    @classmethod
    def for_lineup(cls, lineup: Lineup, urls: Sequence[str], *, ctx: Any) -> SeatTable:
        """The run's table: a fixed run's seats each get their camera now (``urls``: each
        stream's source), once; a changing run's are left to its camera assigner."""
        table = cls(seats=len(lineup.streams), ctx=ctx, changing=lineup.changing)
        if not lineup.changing:
            for seat, (stream, url) in enumerate(zip(lineup.streams, urls, strict=True)):
                table.assign(seat, _camera(stream, url))
        return table

    @property
    def max_aspect(self) -> float | None:
        """The widest frame (width / height) a seat holds unscaled, padded with black rows
        (a changing seat's buffers were sized before its camera was known); None: its
        buffers were sized for its camera."""
        return SEAT_MAX_ASPECT if self.changing else None

    # -- the parent ----------------------------------------------------------------------

    def assign(self, seat: int, camera: Camera) -> None:
        """Give ``seat`` (free: see :meth:`is_free`) to ``camera``."""
        data = json.dumps(dataclasses.asdict(camera)).encode()
        if len(data) > CAMERA_BYTES:
            raise ConfigError(f"camera {camera.name!r}: its settings take {len(data)} bytes, "
                              f"more than a seat holds ({CAMERA_BYTES})")
        with self._lock:
            start = seat * CAMERA_BYTES
            self._camera[start:start + len(data)] = data
            self._length[seat] = len(data)
            self._assigned[seat] = 1
            self._generation[seat] += 1

    def release(self, seat: int) -> None:
        """Take ``seat``'s camera away: its decoder stops it, render drains it."""
        with self._lock:
            self._assigned[seat] = 0
            self._generation[seat] += 1

    def is_free(self, seat: int) -> bool:
        """Whether ``seat`` has no camera and every frame of its last one is out."""
        return not self._assigned[seat] and self._drained[seat] >= self._generation[seat]

    def assigned(self, seat: int) -> bool:
        return bool(self._assigned[seat])

    # -- the stages ----------------------------------------------------------------------

    def generation(self, seat: int) -> int:
        """How many times ``seat``'s assignment changed (read without the lock)."""
        return int(self._generation[seat])

    def read(self, seat: int) -> tuple[int, Camera | None, Camera | None]:
        """``(generation, camera assigned now or None, last camera assigned or None)``."""
        with self._lock:
            generation, assigned = int(self._generation[seat]), bool(self._assigned[seat])
            length = int(self._length[seat])
            start = seat * CAMERA_BYTES
            data = bytes(self._camera[start:start + length]) if length else b""
        last = Camera(**json.loads(data)) if data else None
        return generation, (last if assigned else None), last

    def drained(self, seat: int, generation: int) -> None:
        """Render: every frame of ``seat`` up to ``generation`` is out (one writer per
        seat: the render shard that owns it)."""
        if generation > self._drained[seat]:
            self._drained[seat] = generation


def _camera(stream: StreamCamera | None, url: str) -> Camera:
    """A fixed stream's camera: its cameras file entry, else one named after its URI."""
    assert stream is not None, "a fixed run's lineup has a camera on every stream"
    return stream.camera if stream.camera is not None else Camera(name=stream.name, url=url)
