"""Availability and camera status from a real run: retained, QoS 1, online then offline,
and the broker's last will when the run is killed: each pipeline has its own
availability topic, so a killed one says only itself is gone."""

from __future__ import annotations

import itertools
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from streampose.config.sections import MqttConfig
from streampose.mqtt.status import StatusPublisher
from tests.broker import Mosquitto, Subscriber, settle
from tests.mqtt.runs import kill_group, run_args, slow_clip, start
from tests.support.media import make_video


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


def test_status_and_availability_are_retained(tmp_path: Path, broker: Mosquitto) -> None:
    during = Subscriber(broker)
    try:
        clip = make_video(tmp_path / "lobby.mp4", frames=12)
        # 100 ms a frame: the run stays online over several of the live view's ticks
        result = subprocess.run(run_args(clip, broker.url(), "--mqtt-node", "box1",
                                         "--backend-option", "delay_ms=100"),
                                capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr
        during.wait_for("streampose/lobby/status",
                        lambda m: json.loads(m.text)["state"] == "offline",
                        what="the offline status")
        states = [json.loads(m.text) for m in during.on("streampose/lobby/status")]
        # the live view's states, in their order (a tick may miss a short one), then
        # the run's goodbye
        order = ["starting", "online", "stalled", "finished", "offline"]
        seen = [order.index(s["state"]) for s in states]
        assert seen == sorted(seen) and states[-1]["state"] == "offline"
        assert {s["node"] for s in states} == {"box1"}
        assert states[-1]["frames_out"] == 12 and states[-1]["mqtt_dropped"] == 0
        assert [m.text for m in during.on("streampose/node/box1/availability")] == [
            "online", "offline"]
        assert not during.on("streampose/availability")  # the fleet controller's only
        # the camera's availability follows its state: online while frames are processed
        # (``starting`` is offline; a change only, so never twice the same in a row)
        available = [m.text for m in during.on("streampose/lobby/availability")]
        assert "online" in available and available[-1] == "offline"
        assert all(a != b for a, b in itertools.pairwise(available)), available
    finally:
        during.close()
    after = Subscriber(broker)  # a newcomer gets the retained messages at once
    try:
        status = after.wait_for("streampose/lobby/status", lambda m: m.retain,
                                what="the retained status")
        assert json.loads(status.text)["state"] == "offline" and status.qos == 1
        availability = after.wait_for("streampose/node/box1/availability",
                                      lambda m: m.retain, what="the retained availability")
        assert availability.text == "offline"
    finally:
        after.close()


def test_last_will_says_offline_when_the_run_is_killed(tmp_path: Path,
                                                       broker: Mosquitto) -> None:
    subscriber = Subscriber(broker)
    clip = slow_clip(tmp_path, frames=600)
    proc = start(run_args(clip, broker.url(), "--mqtt-node", "box1",
                          "--backend-option", "delay_ms=50"), tmp_path / "stderr.txt")
    try:
        subscriber.wait_for("streampose/cam/poses", lambda m: True, what="the first poses")
        online = subscriber.on("streampose/node/box1/availability")
        assert [m.text for m in online] == ["online"]
    finally:
        kill_group(proc)  # SIGKILL: no goodbye, the broker sends the will
    try:
        subscriber.wait_for("streampose/node/box1/availability",
                            lambda m: m.text == "offline", what="the last will")
    finally:
        subscriber.close()
    assert proc.returncode == -9
    newcomer = Subscriber(broker)
    try:
        will = newcomer.wait_for("streampose/node/box1/availability", lambda m: m.retain,
                                 what="the retained will")
        assert will.text == "offline"
    finally:
        newcomer.close()


def test_a_killed_pipeline_takes_only_its_own_availability(tmp_path: Path,
                                                           broker: Mosquitto) -> None:
    """Two pipelines on one broker (two nodes of a fleet): SIGKILL one, and only its own
    availability goes offline; the other's, and its camera's, stay online."""
    subscriber = Subscriber(broker)
    procs = {}
    for node in ("box1", "box2"):
        (tmp_path / node).mkdir()
        clip = make_video(tmp_path / node / f"{node}cam.mp4", frames=600)
        procs[node] = start(run_args(clip, broker.url(), "--mqtt-node", node,
                                     "--backend-option", "delay_ms=50"),
                            tmp_path / f"{node}.txt")
    try:
        for node in procs:
            subscriber.wait_for(f"streampose/{node}cam/availability",
                                lambda m: m.text == "online", what=f"{node}'s camera online")
        kill_group(procs["box1"])
        subscriber.wait_for("streampose/node/box1/availability",
                            lambda m: m.text == "offline", what="box1's last will")
        mark = len(subscriber.on("streampose/box2cam/poses"))
        subscriber.wait_for("streampose/box2cam/poses",  # box2 goes on, after the will
                            lambda m: len(subscriber.on("streampose/box2cam/poses")) > mark + 5,
                            what="box2's poses after box1's death")
        settle(subscriber, broker)
        assert [m.text for m in subscriber.on("streampose/node/box2/availability")] == [
            "online"]
        # ``offline`` while it was starting (no frame yet), if a tick saw that; then
        # online throughout, box1's death included
        box2cam = [m.text for m in subscriber.on("streampose/box2cam/availability")]
        assert box2cam in (["online"], ["offline", "online"]), box2cam
        assert not subscriber.on("streampose/availability")
    finally:
        for proc in procs.values():
            kill_group(proc)
        subscriber.close()


def test_status_follows_each_camera_s_state(broker: Mosquitto) -> None:
    subscriber = Subscriber(broker)
    config = MqttConfig(url=broker.url(prefix="p"), node="n1", status_interval_s=3600.0)
    status = StatusPublisher(config, cameras=["cam", "file"])

    def figures(cam: int, file: int, cam_state: str = "online",
                file_state: str = "online") -> list[dict[str, Any]]:
        return [{"frames_in": cam, "fps_out": 25.0, "latency_p95": 0.05, "state": cam_state},
                {"frames_in": file, "fps_out": 10.0, "latency_p95": None,
                 "state": file_state}]

    def states(topic: str) -> list[str]:
        return [json.loads(m.text)["state"] for m in subscriber.on(topic)]

    try:
        with status:
            status.update(0.5, figures(5, 5))  # first tick: everyone
            status.update(1.0, figures(9, 9))  # no change: nothing
            status.update(3.5, figures(9, 9, "reconnecting"))  # the camera went quiet
            status.update(4.0, figures(12, 9, "online", "finished"))  # back; the file ended
            settle(subscriber, broker)
            assert states("p/cam/status") == ["online", "reconnecting", "online"]
            assert states("p/file/status") == ["online", "finished"]
        settle(subscriber, broker)
        assert states("p/cam/status")[-1] == states("p/file/status")[-1] == "offline"
        last = json.loads(subscriber.on("p/cam/status")[-1].text)
        assert (last["node"], last["fps"], last["lag_s"], last["frames_in"]) == \
            ("n1", 25.0, 0.05, 12)
        assert [m.text for m in subscriber.on("p/node/n1/availability")] == ["online",
                                                                             "offline"]
        # each camera's availability: online while it gives frames, on a change only
        assert [m.text for m in subscriber.on("p/cam/availability")] == [
            "online", "offline", "online", "offline"]
        assert [m.text for m in subscriber.on("p/file/availability")] == [
            "online", "offline"]
    finally:
        subscriber.close()
