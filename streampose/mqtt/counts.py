"""One camera's figures for home automation: ``<prefix>/<camera>/state``.

Published (retained, QoS 1) by :class:`streampose.outputs.mqtt.MqttSink` with
``--mqtt-discovery``, only when a figure changes::

    {"people": 2, "fall": "OFF", "lines": {"door": {"in": 3, "out": 1}}, "time": 1764650000.1}

``people``: the people on the last published frame (the frames ``--mqtt-every`` and
``--mqtt-max-rate`` let through); ``fall`` (with ``--fall``): ``ON`` from a fall event
until :data:`~streampose.mqtt.discovery.FALL_HOLD_S` s later (presentation time), else
``OFF``; ``lines`` (with line rules): each rule's crossings by direction since the camera
started on this run, as its events count them; ``time``: the capture time of the frame
that changed them. The discovery configs' value templates read these keys
(:mod:`streampose.mqtt.discovery`).
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from typing import TYPE_CHECKING, Any

from streampose.mqtt.discovery import FALL_HOLD_S

if TYPE_CHECKING:
    from streampose.events.event import Event

__all__ = ["CameraCounts"]


def _count(event: Event, key: str) -> int:
    value = event.details.get(key, 0)
    return int(value) if isinstance(value, (int, float)) else 0


class CameraCounts:
    """The figures of ``camera``: ``lines``, the names of its line rules; ``fall``,
    whether the fall rule is on. :meth:`frame` and :meth:`events` update them;
    :meth:`changed` gives the payload to publish, or None when nothing changed."""

    def __init__(self, *, camera: str, lines: Sequence[str] = (), fall: bool = False,
                 hold_s: float = FALL_HOLD_S) -> None:
        self.camera, self.fall, self.hold_s = camera, fall, hold_s
        self.people: int | None = None
        self.lines = {name: {"in": 0, "out": 0} for name in lines}
        self._pts = 0.0
        self._fall_until: float | None = None
        self._wall = 0.0
        self._shown: dict[str, Any] | None = None

    def frame(self, pts_s: float, wall: float, people: int) -> None:
        """A published frame at ``pts_s`` (capture time ``wall``) with ``people``."""
        self.people, self._pts, self._wall = people, pts_s, wall

    def events(self, events: Iterable[Event]) -> None:
        """A frame's events: line crossings update their counts, a fall starts ``ON``."""
        for event in events:
            self._pts, self._wall = event.pts, event.time
            if event.type == "line" and event.rule in self.lines:
                self.lines[event.rule] = {"in": _count(event, "count_in"),
                                          "out": _count(event, "count_out")}
            elif event.type == "fall":
                self._fall_until = event.pts + self.hold_s

    def figures(self) -> dict[str, Any]:
        """What the state topic says now (without its time)."""
        out: dict[str, Any] = {"people": self.people or 0}
        if self.fall:
            falling = self._fall_until is not None and self._pts < self._fall_until
            out["fall"] = "ON" if falling else "OFF"
        if self.lines:
            out["lines"] = {name: dict(counts) for name, counts in self.lines.items()}
        return out

    def changed(self) -> str | None:
        """The JSON payload when the figures changed since the last one (the first
        frame's always), else None."""
        if self.people is None:
            return None  # no frame yet: nothing to say
        figures = self.figures()
        if figures == self._shown:
            return None
        self._shown = figures
        return json.dumps({**figures, "time": round(self._wall, 3)}, separators=(",", ":"))
