"""/api/status: camera names, redacted sources, dropped events; the connection limits."""

from __future__ import annotations

import json
import multiprocessing as mp
from typing import Any

import pytest

from streampose.config.sections import ConsoleConfig
from streampose.console.app import limits_of, status_json
from streampose.console.events import EventHub
from streampose.console.gate import Limits
from streampose.errors import ConfigError
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


def test_the_limits_come_from_the_console_section() -> None:
    assert limits_of(ConsoleConfig()) == Limits()  # the same defaults
    config = ConsoleConfig(header_timeout_s=0.5, idle_timeout_s=2.0, max_connections=9,
                           max_connections_per_address=3, max_streams=4,
                           max_streams_per_address=1, fd_reserve=16)
    assert limits_of(config) == Limits(header_timeout_s=0.5, idle_timeout_s=2.0,
                                       max_connections=9, max_connections_per_address=3,
                                       max_streams=4, max_streams_per_address=1, fd_reserve=16)


@pytest.mark.parametrize("bad", [{"header_timeout_s": 0.0}, {"max_connections": 0},
                                 {"fd_reserve": 2}, {"max_streams": -1}])
def test_limits_out_of_range_are_refused(bad: dict[str, Any]) -> None:
    with pytest.raises(ConfigError):
        ConsoleConfig(**bad)
