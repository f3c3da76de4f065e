"""/api/status: camera names, redacted sources, dropped events."""

from __future__ import annotations

import json
import multiprocessing as mp
from typing import Any

from streampose.console.app import status_json
from streampose.console.events import EventHub
from streampose.observe.counters import StreamCounters
from streampose.observe.live import LiveView
from streampose.observe.stats import LatencyWindow

CTX = mp.get_context("spawn")


def test_status_has_names_not_credentials(make_link: Any) -> None:
    link = make_link()
    link.dropped_events[1] = 4
    view = LiveView(sources=["rtsp://ops:hunter2@10.0.0.5/a", "b.mp4"],
                    counters=StreamCounters(streams=2, ctx=CTX),
                    latency=LatencyWindow(streams=2, ctx=CTX), started=0.0,
                    cameras=["a", "b"], live=[True, False], totals=[None, 100])
    view.counters.items(0, inferred=4)
    view.counters.items(0, inferred=0)
    view.update(1.0, None)
    status = status_json(view, EventHub(link))
    assert status["cameras"] == ["a", "b"]
    assert [s["events_dropped"] for s in status["streams"]] == [0, 4]
    assert status["streams"][1]["total"] == 100
    first = status["streams"][0]  # work items, for the page's inference line
    assert (first["frames_inferred"], first["work_items"], first["frames_skipped"],
            first["items_per_frame"]) == (1, 4, 1, 4.0)
    assert status["streams"][1]["items_per_frame"] is None
    assert "hunter2" not in json.dumps(status)
