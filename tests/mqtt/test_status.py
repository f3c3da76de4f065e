"""Availability and camera status from a real run: retained, QoS 1, online then offline,
and the broker's last will when the run is killed."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import Mosquitto, Subscriber
from tests.helpers import make_video
from tests.mqtt.runs import kill_group, run_args, slow_clip, start


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


def test_status_and_availability_are_retained(tmp_path: Path, broker: Mosquitto) -> None:
    during = Subscriber(broker)
    try:
        clip = make_video(tmp_path / "lobby.mp4", frames=12)
        result = subprocess.run(run_args(clip, broker.url(), "--mqtt-node", "box1"),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        during.wait_for("streampose/lobby/status",
                        lambda m: json.loads(m.text)["state"] == "offline",
                        what="the offline status")
        states = [json.loads(m.text) for m in during.on("streampose/lobby/status")]
        assert states[0]["state"] == "online" and states[-1]["state"] == "offline"
        assert {s["node"] for s in states} == {"box1"}
        assert states[-1]["frames_out"] == 12 and states[-1]["mqtt_dropped"] == 0
        assert [m.text for m in during.on("streampose/availability")] == ["online",
                                                                          "offline"]
    finally:
        during.close()
    after = Subscriber(broker)  # a newcomer gets the retained messages at once
    try:
        status = after.wait_for("streampose/lobby/status", lambda m: m.retain,
                                what="the retained status")
        assert json.loads(status.text)["state"] == "offline" and status.qos == 1
        availability = after.wait_for("streampose/availability", lambda m: m.retain,
                                      what="the retained availability")
        assert availability.text == "offline"
    finally:
        after.close()


def test_last_will_says_offline_when_the_run_is_killed(tmp_path: Path,
                                                       broker: Mosquitto) -> None:
    subscriber = Subscriber(broker)
    clip = slow_clip(tmp_path, frames=600)
    proc = start(run_args(clip, broker.url(), "--backend-option", "delay_ms=50"),
                 tmp_path / "stderr.txt")
    try:
        subscriber.wait_for("streampose/cam/poses", lambda m: True, what="the first poses")
        online = subscriber.on("streampose/availability")
        assert [m.text for m in online] == ["online"]
    finally:
        kill_group(proc)  # SIGKILL: no goodbye, the broker sends the will
    try:
        subscriber.wait_for("streampose/availability", lambda m: m.text == "offline",
                            what="the last will")
    finally:
        subscriber.close()
    assert proc.returncode == -9
    newcomer = Subscriber(broker)
    try:
        will = newcomer.wait_for("streampose/availability", lambda m: m.retain,
                                 what="the retained will")
        assert will.text == "offline"
    finally:
        newcomer.close()
