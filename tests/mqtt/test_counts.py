"""A camera's figures on ``<prefix>/<camera>/state``: people, fall, line counts, sent
only when they change."""

from __future__ import annotations

import json
from typing import Any

from streampose.events.event import Event
from streampose.mqtt.counts import CameraCounts


def event(kind: str, pts: float, rule: str = "r", **details: Any) -> Event:
    return Event(camera="cam", type=kind, rule=rule, track_id=1, time=1000.0 + pts,
                 frame=int(pts * 10), pts=pts, position=(0.0, 0.0), details=details)


def test_nothing_before_the_first_frame_then_only_changes() -> None:
    counts = CameraCounts(camera="cam")
    assert counts.changed() is None
    counts.frame(0.0, 1000.0, 2)
    first = counts.changed()
    assert first is not None and json.loads(first) == {"people": 2, "time": 1000.0}
    counts.frame(0.1, 1000.1, 2)
    assert counts.changed() is None  # the same figures
    counts.frame(0.2, 1000.2, 3)
    assert json.loads(counts.changed() or "{}")["people"] == 3


def test_line_counts_follow_their_events() -> None:
    counts = CameraCounts(camera="cam", lines=["door", "gate"])
    counts.frame(0.0, 1000.0, 1)
    assert json.loads(counts.changed() or "{}")["lines"] == {
        "door": {"in": 0, "out": 0}, "gate": {"in": 0, "out": 0}}
    counts.events([event("line", 0.5, "door", direction="in", count_in=1, count_out=0),
                   event("line", 0.5, "other", direction="in", count_in=7, count_out=0),
                   event("enter", 0.5, "zone")])
    assert json.loads(counts.changed() or "{}")["lines"]["door"] == {"in": 1, "out": 0}


def test_a_fall_is_on_for_the_hold_then_off() -> None:
    counts = CameraCounts(camera="cam", fall=True, hold_s=2.0)
    counts.frame(0.0, 1000.0, 1)
    assert json.loads(counts.changed() or "{}")["fall"] == "OFF"
    counts.events([event("fall", 1.0)])
    assert json.loads(counts.changed() or "{}")["fall"] == "ON"
    counts.frame(2.9, 1002.9, 1)
    assert counts.changed() is None  # still within the hold
    counts.frame(3.0, 1003.0, 1)
    assert json.loads(counts.changed() or "{}")["fall"] == "OFF"
