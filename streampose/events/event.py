"""Event: one thing that happened to one tracked person on one camera.

Events are made per camera by :class:`streampose.events.engine.EventEngine` in the render
stage and handed to every sink that wants them (``Sink.write_events``). Consumers other
than the events package rely on :meth:`Event.to_json`, ``type`` and ``camera`` only.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Event"]


@dataclass(frozen=True)
class Event:
    """What happened (``type``: ``line``, ``enter``, ``leave``, ``dwell``, ``fall``), under
    which rule, to which track, when and where.

    ``time`` is the frame's capture wall time (seconds since the epoch), ``frame`` the
    source frame index, ``pts`` the presentation time in seconds, ``position`` the
    track's anchor point in frame pixels; ``details`` holds the rule's extras (direction,
    counts, occupancy, dwell_s, ...).
    """

    camera: str
    type: str
    rule: str
    track_id: int
    time: float
    frame: int
    pts: float
    position: tuple[float, float]
    details: Mapping[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """``{"camera", "type", "rule", "track_id", "time", "frame", "pts", "position",
        **details}``: plain JSON types, positions to 0.1 px, times to the microsecond."""
        return {"camera": self.camera, "type": self.type, "rule": self.rule,
                "track_id": int(self.track_id), "time": round(self.time, 6),
                "frame": int(self.frame), "pts": round(self.pts, 6),
                "position": [round(float(self.position[0]), 1),
                             round(float(self.position[1]), 1)],
                **self.details}
