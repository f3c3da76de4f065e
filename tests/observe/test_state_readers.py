"""Every reader of a camera's state shows the one the live view computed on the tick:
the terminal table, the console's /api/status, the Prometheus page, the MQTT status and a
fleet node's figures (read from that page). A live camera stops and comes back, then its
decoder ends; a file is read to its end."""

from __future__ import annotations

import io
import json
import multiprocessing as mp
from pathlib import Path
from typing import Any, cast

from prometheus_client.parser import text_string_to_metric_families
from rich.console import Console

from streampose.config.sections import MqttConfig
from streampose.console.app import status_json
from streampose.console.events import EventHub
from streampose.fleet.figures import parse_metrics
from streampose.fleet.node import NodePipeline
from streampose.mqtt.client import Publisher
from streampose.mqtt.status import StatusPublisher
from streampose.observe.counters import StreamCounters
from streampose.observe.live import LiveView
from streampose.observe.stats import LatencyWindow
from streampose.observe.terminal import status_table

CTX = mp.get_context("spawn")
CAMERAS = ["door", "clip"]


class _Broker:
    """Stands for the MQTT publisher: keeps the last retained payload of each topic."""

    def __init__(self) -> None:
        self.retained: dict[str, str] = {}

    def publish_retained(self, topic: str, payload: str) -> None:
        self.retained[topic] = payload


class _NoEvents:
    def dropped(self) -> list[int]:
        return [0] * len(CAMERAS)


def terminal_states(streams: list[dict[str, Any]]) -> list[str]:
    out = io.StringIO()
    Console(file=out, width=300, color_system=None).print(status_table(streams=streams))
    rows = {line.split()[0]: line.split()[1] for line in out.getvalue().splitlines()[1:]}
    return [rows[name] for name in CAMERAS]


def prometheus_states(text: str) -> list[str]:
    current = {s.labels["stream"]: s.labels["state"]
               for f in text_string_to_metric_families(text) if f.name == "streampose_stream_state"
               for s in f.samples if s.value == 1}
    return [current[str(i)] for i in range(len(CAMERAS))]


def test_every_reader_shows_the_tick_s_state(tmp_path: Path) -> None:
    counters = StreamCounters(streams=2, ctx=CTX)
    ended = [False, False]
    view = LiveView(sources=["rtsp://ops:pw@cam/door", "clip.mp4"], counters=counters,
                    latency=LatencyWindow(streams=2, ctx=CTX), started=0.0, cameras=CAMERAS,
                    live=[True, False], totals=[None, 40], stale_s=2.0, ended=lambda: ended)
    status = StatusPublisher(MqttConfig(url="mqtt://127.0.0.1:1/p", node="n1",
                                        status_interval_s=3600.0), cameras=CAMERAS)
    broker = _Broker()
    status.publisher = cast(Publisher, broker)
    node = NodePipeline("id1", "n1", str(tmp_path / "node"))
    # (time, door frames in, clip frames in, clip frames out, door's decoder ended)
    script = [(0.5, 0, 0, 0, False), (1.0, 3, 2, 0, False), (1.5, 6, 6, 4, False),
              (2.0, 6, 10, 8, False),
              (3.5, 6, 10, 8, False),  # the camera went quiet
              (4.0, 6, 10, 8, False),  # and the file too, frames in flight
              (4.5, 9, 20, 18, False),  # both are back
              (5.0, 12, 40, 40, False), (5.5, 12, 40, 40, True)]  # the camera's decoder ended
    seen = []
    try:
        for now, door, clip_in, clip_out, door_ended in script:
            for i, (name, value) in enumerate([("frames_in", door), ("frames_in", clip_in)]):
                counters.add(i, name, value - counters.get(i, name))
            counters.add(0, "frames_out", door - counters.get(0, "frames_out"))
            counters.add(1, "frames_out", clip_out - counters.get(1, "frames_out"))
            ended[0] = door_ended
            snap = view.update(now, None)
            status.update(now, snap.streams)
            text = view.metrics.exposition().decode()
            figures = parse_metrics(text)
            readers = {
                "view": [s["state"] for s in snap.streams],
                "console": [s["state"] for s in status_json(view, cast(EventHub, _NoEvents()))
                            ["streams"]],
                "terminal": terminal_states(snap.streams),
                "prometheus": prometheus_states(text),
                "mqtt": [json.loads(broker.retained[f"p/{c}/status"])["state"]
                         for c in CAMERAS],
                "fleet node": [node._figure(c, figures[c], False)["state"] for c in CAMERAS]}
            assert all(r == readers["view"] for r in readers.values()), (now, readers)
            seen.append(readers["view"])
    finally:
        node.stop()
    assert [s[0] for s in seen] == ["starting", "online", "online", "online", "reconnecting",
                                    "reconnecting", "online", "online", "offline"]
    assert [s[1] for s in seen] == ["starting", "online", "online", "online", "online",
                                    "stalled", "online", "finished", "finished"]
