"""Stream slots: which camera each pre-allocated stream carries (live add and remove).

A run started with ``--max-streams N`` (or from a cameras file that is watched) has N
stream slots, whose rings and stages exist from the start. The parent alone writes the
:class:`SlotTable`; the stages read it:

- the slot's decode stage polls its slot's ``generation`` at every step; when it
  changes, it stops the camera it was reading (and queues a detach marker, an EOS item
  with ``FLAG_DETACH`` whose ``pts`` is the new generation) and starts the camera now
  assigned, if any;
- the render stage, when the first frame after a detach (or the start) comes, reads the
  slot's camera (its name, recording and drawing options); when the detach marker comes
  (after every frame of that camera), it closes that camera's recording and reports the
  slot ``drained`` up to that generation;
- the parent gives a removed camera's slot to a new camera only once it is drained, so a
  slot carries at most one camera's frames at a time.

Shared memory of fixed size: a generation, an "assigned" flag and the camera (JSON,
at most :data:`CAMERA_BYTES`) per slot, one lock for the writes and the reads of a whole
entry (rare: a generation is read without it).
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from streampose.config.camera import Camera
from streampose.errors import ConfigError

__all__ = ["CAMERA_BYTES", "SlotTable"]

CAMERA_BYTES = 4096


class SlotTable:
    """Slot -> camera, written by the parent, read by the stages (see the module doc)."""

    def __init__(self, *, slots: int, ctx: Any) -> None:
        self.slots = slots
        self._lock = ctx.Lock()
        self._generation = ctx.Array("q", slots, lock=False)
        self._assigned = ctx.Array("b", slots, lock=False)
        self._drained = ctx.Array("q", slots, lock=False)
        self._length = ctx.Array("i", slots, lock=False)
        self._camera = ctx.Array("c", slots * CAMERA_BYTES, lock=False)

    # -- the parent ----------------------------------------------------------------------

    def assign(self, slot: int, camera: Camera) -> None:
        """Give ``slot`` (free: see :meth:`is_free`) to ``camera``."""
        data = json.dumps(dataclasses.asdict(camera)).encode()
        if len(data) > CAMERA_BYTES:
            raise ConfigError(f"camera {camera.name!r}: its settings take {len(data)} bytes, "
                              f"more than a stream slot holds ({CAMERA_BYTES})")
        with self._lock:
            start = slot * CAMERA_BYTES
            self._camera[start:start + len(data)] = data
            self._length[slot] = len(data)
            self._assigned[slot] = 1
            self._generation[slot] += 1

    def release(self, slot: int) -> None:
        """Take ``slot``'s camera away: its decoder stops it, render drains it."""
        with self._lock:
            self._assigned[slot] = 0
            self._generation[slot] += 1

    def is_free(self, slot: int) -> bool:
        """Whether ``slot`` has no camera and every frame of its last one is out."""
        return not self._assigned[slot] and self._drained[slot] >= self._generation[slot]

    def assigned(self, slot: int) -> bool:
        return bool(self._assigned[slot])

    # -- the stages ----------------------------------------------------------------------

    def generation(self, slot: int) -> int:
        """How many times ``slot``'s assignment changed (read without the lock)."""
        return int(self._generation[slot])

    def read(self, slot: int) -> tuple[int, Camera | None, Camera | None]:
        """``(generation, camera assigned now or None, last camera assigned or None)``."""
        with self._lock:
            generation, assigned = int(self._generation[slot]), bool(self._assigned[slot])
            length = int(self._length[slot])
            start = slot * CAMERA_BYTES
            data = bytes(self._camera[start:start + length]) if length else b""
        last = Camera(**json.loads(data)) if data else None
        return generation, (last if assigned else None), last

    def drained(self, slot: int, generation: int) -> None:
        """Render: every frame of ``slot`` up to ``generation`` is out (one writer per
        slot: the render shard that owns it)."""
        if generation > self._drained[slot]:
            self._drained[slot] = generation
