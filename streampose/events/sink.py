"""``--events OUT.jsonl``: every event as one JSON object per line, flushed as written.

The file is valid whenever it is read, even if the run is killed: each line is written
whole and flushed (:class:`~streampose.outputs.jsonl.JsonLinesWriter`).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from streampose.events.event import Event
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.jsonl import JsonLinesWriter
from streampose.pose import Poses

__all__ = ["EventsSink"]


class EventsSink(Sink):
    """Writes the events of every stream to one JSON lines file (``Event.to_json``)."""

    wants_events = True

    def __init__(self, *, path: Path) -> None:
        self._writer = JsonLinesWriter(path=path)

    @property
    def lines(self) -> int:
        return self._writer.lines

    def open(self) -> None:
        self._writer.open()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        """Nothing per frame: only events are written."""

    def write_events(self, meta: FrameMeta, events: Sequence[Event]) -> None:
        for event in events:
            self._writer.write(event.to_json())

    def close(self) -> None:
        self._writer.close()
