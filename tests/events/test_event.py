"""Event records: the agreed JSON shape."""

from __future__ import annotations

import json

from streampose.events import Event


def test_to_json_puts_details_beside_the_common_fields() -> None:
    event = Event(camera="cam1", type="enter", rule="desk", track_id=3, time=1.25,
                  frame=7, pts=0.7, position=(10.04, 20.06), details={"occupancy": 2})
    record = event.to_json()
    assert record == {"camera": "cam1", "type": "enter", "rule": "desk", "track_id": 3,
                      "time": 1.25, "frame": 7, "pts": 0.7, "position": [10.0, 20.1],
                      "occupancy": 2}
    assert json.loads(json.dumps(record)) == record
