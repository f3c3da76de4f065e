"""What a rule's detector is: it watches the tracked people of one camera, frame by frame.

A rule (``LineRule``, ``ZoneRule``, ``FallRule``) is frozen configuration; its
``detector(skeleton)`` is the mutable per-camera state. The engine calls
``observe(seen)`` once per tracked person per frame and ``lost(track_id, last)`` once
when a track has not been seen for a while; both return :class:`Hit` s, which the
engine turns into :class:`~streampose.events.event.Event` s.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol

from streampose.events.geometry import Point

__all__ = ["Detector", "Hit", "Seen"]


@dataclass(frozen=True)
class Seen:
    """One tracked person in one frame: ``keypoints``, K x [x, y, confidence] in frame
    pixels (plain lists: the rules read a few numbers each, faster than through numpy)."""

    track_id: int
    keypoints: list[list[float]]
    frame: int
    pts: float


@dataclass(frozen=True)
class Hit:
    """A detector's finding: the event type, where, and the rule's details."""

    type: str
    position: Point
    details: Mapping[str, object]


class Detector(Protocol):
    """The per-camera state of one rule."""

    rule: str

    def observe(self, seen: Seen) -> list[Hit]: ...

    def lost(self, track_id: int, last: Seen) -> list[Hit]: ...

    @property
    def tracks(self) -> int:
        """Tracks it holds state for (bounded by the engine's forgetting)."""
        ...
