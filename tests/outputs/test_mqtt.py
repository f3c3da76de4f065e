"""The MQTT sink against a real broker (mosquitto, started here): poses are the JSON lines
objects frame for frame, gated by --mqtt-every / --mqtt-max-rate; events reach
``<prefix>/<camera>/events``; drops are counted per stream."""

from __future__ import annotations

import json
import multiprocessing
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from streampose.config.sections import MqttConfig
from streampose.observe.counters import StreamCounters
from streampose.outputs.base import FrameMeta
from streampose.outputs.mqtt import MqttSink
from streampose.pose import Poses, get_skeleton
from tests.broker import Mosquitto, Subscriber, free_port, settle
from tests.support.cli import run_cli
from tests.support.media import make_video
from tests.support.models import MODEL_NAME


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


@pytest.fixture
def subscriber(broker: Mosquitto) -> Iterator[Subscriber]:
    sub = Subscriber(broker)
    yield sub
    sub.close()


def run_with_mqtt(tmp_path: Path, url: str, *extra: str) -> tuple[list[dict[str, Any]], str]:
    """A 12-frame 10 fps clip through the fake backend with --mqtt; the JSON lines and
    stderr."""
    clip = make_video(tmp_path / "door.mp4", frames=12)
    out = tmp_path / "o.jsonl"
    result = run_cli("run", str(clip), "--model", str(MODEL_NAME), "--backend", "fake",
                     "--json", str(out), "--mqtt", url, *extra)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in out.read_text().splitlines()], result.stderr


def poses(subscriber: Subscriber, topic: str) -> list[dict[str, Any]]:
    return [json.loads(m.text) for m in subscriber.on(topic)]


def test_poses_match_the_json_lines_frame_for_frame(tmp_path: Path, broker: Mosquitto,
                                                    subscriber: Subscriber) -> None:
    lines, _ = run_with_mqtt(tmp_path, broker.url(prefix="site/a"))
    settle(subscriber, broker)
    got = subscriber.on("site/a/door/poses")
    assert len(lines) == 12 and [json.loads(m.text) for m in got] == lines
    assert all(m.qos == 0 and not m.retain for m in got)
    assert any(line["persons"] for line in lines)  # the fake backend finds the square


def test_every_nth_frame(tmp_path: Path, broker: Mosquitto, subscriber: Subscriber) -> None:
    lines, _ = run_with_mqtt(tmp_path, broker.url(), "--mqtt-every", "5")
    settle(subscriber, broker)
    assert poses(subscriber, "streampose/door/poses") == [lines[0], lines[5], lines[10]]


def test_max_rate_by_presentation_time(tmp_path: Path, broker: Mosquitto,
                                       subscriber: Subscriber) -> None:
    # 10 fps, at most 3 per second: frames at least 1/3 s apart (0.0, 0.4, 0.8 s)
    lines, _ = run_with_mqtt(tmp_path, broker.url(), "--mqtt-max-rate", "3")
    settle(subscriber, broker)
    got = poses(subscriber, "streampose/door/poses")
    assert [p["frame"] for p in got] == [0, 4, 8]
    assert got == [lines[0], lines[4], lines[8]]


@dataclass(frozen=True)
class FakeEvent:
    """What the MQTT sink relies on: ``camera``, ``type`` and ``to_json()``."""

    camera: str
    type: str
    track_id: int
    details: dict[str, object] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"camera": self.camera, "type": self.type, "track_id": self.track_id,
                **self.details}


def meta(stream: int, frame: int) -> FrameMeta:
    return FrameMeta(stream=stream, frame=frame, pts=frame, pts_s=frame / 10, wall=0.0,
                     image_id=frame)


def test_events_reach_the_events_topic(broker: Mosquitto, subscriber: Subscriber) -> None:
    sink = MqttSink(config=MqttConfig(url=broker.url(prefix="p")), cameras=["gate", "hall"])
    assert sink.wants_events
    events = [FakeEvent("hall", "line", 3, {"direction": "in"}),
              FakeEvent("hall", "dwell", 4, {"dwell_s": 12.5})]
    with sink:
        sink.write_events(meta(1, 7), events)  # type: ignore[arg-type]
    settle(subscriber, broker)
    got = subscriber.on("p/hall/events")
    assert [json.loads(m.text) for m in got] == [e.to_json() for e in events]
    assert all(m.qos == 1 for m in got) and not subscriber.on("p/gate/events")
    assert sink.published == 2 and sink.dropped == 0
    assert not subscriber.on("p/hall/state")  # only with --mqtt-discovery


def test_with_discovery_each_camera_s_state_on_a_change(broker: Mosquitto,
                                                        subscriber: Subscriber) -> None:
    from streampose.events.event import Event
    from streampose.mqtt.discovery import LineRef

    config = MqttConfig(url=broker.url(prefix="p"), discovery="homeassistant")
    sink = MqttSink(config=config, cameras=["gate"], lines=[LineRef("door")], fall=True)
    empty = Poses.empty(get_skeleton("coco18"))
    crossing = Event(camera="gate", type="line", rule="door", track_id=1, time=5.0, frame=2,
                     pts=0.2, position=(1.0, 2.0),
                     details={"direction": "out", "count_in": 0, "count_out": 1})
    with sink:
        sink.write(meta(0, 0), empty, None)
        sink.write(meta(0, 1), empty, None)  # nothing changed: no message
        sink.write(meta(0, 2), empty, None)
        sink.write_events(meta(0, 2), [crossing])
        sink.cameras[0] = "yard"  # the seat's next camera (SinkSet.rename) starts afresh
        sink.write(meta(0, 3), empty, None)
    settle(subscriber, broker)
    states = [json.loads(m.text) for m in subscriber.on("p/gate/state")]
    assert [(s["people"], s["fall"], s["lines"]["door"]) for s in states] == [
        (0, "OFF", {"in": 0, "out": 0}), (0, "OFF", {"in": 0, "out": 1})]
    assert all(m.qos == 1 for m in subscriber.on("p/gate/state"))
    (yard,) = [json.loads(m.text) for m in subscriber.on("p/yard/state")]
    assert yard["lines"] == {"door": {"in": 0, "out": 0}}


def test_messages_without_a_broker_are_dropped_and_counted_per_stream() -> None:
    pytest.importorskip("paho.mqtt.client")
    counters = StreamCounters(streams=2, ctx=multiprocessing.get_context("spawn"))
    config = MqttConfig(url=f"mqtt://127.0.0.1:{free_port()}", connect_timeout_s=0.5)
    sink = MqttSink(config=config, cameras=["a", "b"], counters=counters)
    with sink:
        for i in range(2):
            sink.write(meta(0, i), Poses.empty(get_skeleton("coco18")), None)
        for i in range(3):  # QoS 1: queued for the broker, lost when the run ends first
            sink.write_events(meta(1, i), [FakeEvent("b", "enter", i)])  # type: ignore[list-item]
    assert counters.get(0, "mqtt_dropped") == 2 and counters.get(1, "mqtt_dropped") == 3
    assert sink.dropped == 5
