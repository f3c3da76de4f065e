"""The parent side of the events: bounded history, thumbnails, counts, subscribers."""

from __future__ import annotations

from typing import Any

from streampose.console.events import EventHub
from tests.support.waiting import wait_until


def record(kind: str, camera: str = "a") -> dict[str, Any]:
    return {"camera": camera, "type": kind, "rule": "r", "track_id": 1, "time": 1.0}


def test_pump_keeps_counts_and_tells_subscribers(make_link: Any) -> None:
    link = make_link()
    hub = EventHub(link, history=3)
    seen: list[dict[str, Any]] = []
    hub.subscribe(seen.append)
    for i in range(5):
        link.events.put((i % 2, record("enter" if i < 4 else "fall", "ab"[i % 2]),
                         b"jpeg%d" % i if i % 2 else b""))
    wait_until(lambda: not link.events.empty(), timeout=60, what="the events in the queue")
    taken = 0
    while taken < 5:
        taken += hub.pump()
    assert [r["id"] for r in seen] == [0, 1, 2, 3, 4]
    assert [r["id"] for r in hub.recent()] == [2, 3, 4]   # bounded history
    assert hub.counts() == {(0, "a", "enter"): 2, (1, "b", "enter"): 2, (0, "a", "fall"): 1}
    assert hub.thumbnail(3) == b"jpeg3" and hub.recent()[1]["thumbnail"] == "/api/events/3.jpg"
    assert hub.thumbnail(2) is None and hub.recent()[0]["thumbnail"] is None
    assert hub.thumbnail(0) is None  # forgotten
    assert hub.dropped() == [0, 0]
