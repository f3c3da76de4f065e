"""The controller's messages: ``moved`` (the node pipelines' status payload, with the new
node, and the camera's availability ``offline``) and the fleet's own availability."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from streampose.fleet.publish import FleetStatus
from streampose.mqtt.url import parse_broker_url


class FakePublisher:
    def __init__(self) -> None:
        self.url = parse_broker_url("mqtt://127.0.0.1:1883/sp")
        self.sent: list[tuple[str, str, int, bool]] = []

    def publish(self, topic: str, payload: str, *, qos: int = 0, retain: bool = False) -> None:
        self.sent.append((topic, payload, qos, retain))


def test_moved_uses_the_status_payload(monkeypatch: pytest.MonkeyPatch) -> None:
    status = FleetStatus(fleet_id="f1", mqtt={"url": "mqtt://127.0.0.1:1883/sp"})
    fake = FakePublisher()
    monkeypatch.setattr(status, "_connected", lambda: fake)
    status.moved("door", "host-b", "host-a")
    (topic, payload, qos, retain), availability = fake.sent
    record: dict[str, Any] = json.loads(payload)
    assert (topic, qos, retain) == ("sp/door/status", 1, True)
    # the lost node's pipeline could not say its camera is gone: the controller does
    assert availability == ("sp/door/availability", "offline", 1, True)
    assert (record["camera"], record["state"], record["node"], record["from"]) == \
        ("door", "moved", "host-b", "host-a")
    assert {"fps", "lag_s", "time", "frames_in"} <= record.keys()  # the pipelines' schema


def test_no_url_no_messages(monkeypatch: pytest.MonkeyPatch) -> None:
    status = FleetStatus(fleet_id="f1", mqtt=None)
    monkeypatch.setattr(status, "_connected", lambda: pytest.fail("connected"))
    status.connect()
    status.moved("door", "host-b", "host-a")


def test_the_fleet_s_availability_is_the_controller_s(tmp_path: Path) -> None:
    from tests.broker import Mosquitto, Subscriber, settle

    broker = Mosquitto(tmp_path / "broker").start()
    try:
        sub = Subscriber(broker)
        status = FleetStatus(fleet_id="f1", mqtt={"url": broker.url(prefix="sp")})
        status.connect()
        sub.wait_for("sp/availability", lambda m: m.text == "online", what="online")
        status.close()  # fleet down
        settle(sub, broker)
        assert [m.text for m in sub.on("sp/availability")] == ["online", "offline"]
        sub.close()
    finally:
        broker.stop()
