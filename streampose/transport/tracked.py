"""The tracked-boxes board: one stream's tracked people, from render back to preprocess.

Render tracks people (each stream's frames in order); preprocess plans motion regions
(:mod:`streampose.planning.motion_items`) and must keep a region around every person
still tracked, moving or not. A :class:`TrackedBoxes` board is one small shared array
per stream (a ``multiprocessing.Array`` of float64, made by the topology from a
:class:`~streampose.runtime.channels.ArraySpec`): ``[sequence, count, x1, y1, x2, y2,
...]``. Render writes the boxes (frame pixels) of the people it tracked on the stream's
latest frame, at most :data:`MAX_TRACKED`, and bumps the sequence number; preprocess
reads the latest. Each read and write holds the array's lock, so a read never sees half
a write. The boxes are a frame or a few old when read (frames in flight between the two
stages): the region margin covers that.
"""

from __future__ import annotations

from typing import Any

import numpy as np

__all__ = ["BOARD_LENGTH", "MAX_TRACKED", "TrackedBoxes"]

MAX_TRACKED = 64  # boxes a board holds (the highest-scoring first: the writer's order)
BOARD_LENGTH = 2 + 4 * MAX_TRACKED  # sequence, count, then the boxes


class TrackedBoxes:
    """One stream's board over ``array`` (a synchronized ``multiprocessing.Array('d',
    BOARD_LENGTH)``; picklable to a spawned stage with it)."""

    def __init__(self, array: Any) -> None:
        if len(array) < BOARD_LENGTH:
            raise ValueError(f"TrackedBoxes: the array holds {len(array)} values, needs "
                             f"{BOARD_LENGTH}")
        self.array = array

    def write(self, boxes: np.ndarray) -> None:
        """The latest tracked people's ``(n, 4)`` boxes (x1, y1, x2, y2, frame pixels);
        only the first :data:`MAX_TRACKED` are kept."""
        flat = np.asarray(boxes, np.float64).reshape(-1, 4)[:MAX_TRACKED].ravel()
        with self.array.get_lock():
            values = self._values()
            values[0] += 1
            values[1] = len(flat) // 4
            values[2:2 + len(flat)] = flat

    def read(self) -> np.ndarray:
        """The latest boxes, ``(n, 4)`` float64 (a copy; empty before any write)."""
        with self.array.get_lock():
            values = self._values()
            count = int(values[1])
            boxes: np.ndarray = values[2:2 + 4 * count].reshape(count, 4).copy()
            return boxes

    def latest(self) -> tuple[int, np.ndarray]:
        """(:attr:`sequence`, :meth:`read`) of one post, read together."""
        with self.array.get_lock():
            return int(self._values()[0]), self.read()

    def clear(self) -> None:
        """Nobody tracked (a camera left the seat)."""
        self.write(np.zeros((0, 4)))

    @property
    def sequence(self) -> int:
        """How many writes so far."""
        with self.array.get_lock():
            return int(self._values()[0])

    def _values(self) -> np.ndarray:
        return np.frombuffer(self.array.get_obj(), np.float64)
