"""MQTT faults in a real run: the broker stopped and restarted mid-run, a wrong password,
a broker unreachable at start-up, a bad URL. The pipeline never waits for the broker."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.broker import DEADLINE_S, Mosquitto, Subscriber, free_port
from tests.mqtt.runs import kill_group, lines, run_args, slow_clip, start
from tests.support.media import make_video
from tests.support.waiting import wait_until

FRAMES = 150  # 100 ms per frame (fake backend delay): at least 15 s, time to restart


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


def test_broker_restart_mid_run(tmp_path: Path, broker: Mosquitto) -> None:
    subscriber = Subscriber(broker)
    out, summary = tmp_path / "o.jsonl", tmp_path / "s.json"
    clip = slow_clip(tmp_path, FRAMES)
    proc = start(run_args(clip, broker.url(), "--backend-option", "delay_ms=100", "--json",
                          str(out), "--summary", str(summary)), tmp_path / "stderr.txt")
    try:
        subscriber.wait_for("streampose/cam/poses", lambda m: True, what="the first poses")
        broker.stop()
        down_at = lines(out)
        wait_until(lambda: lines(out) >= down_at + 5, timeout=DEADLINE_S,
                   what="frames processed while the broker is down")
        restart_at = len(subscriber.messages)
        broker.start()

        def after_restart(topic: str) -> bool:
            return any(m.topic == topic for m in subscriber.messages[restart_at:])

        wait_until(lambda: after_restart("streampose/cam/status"), timeout=DEADLINE_S,
                   what="a status after the reconnection")
        wait_until(lambda: after_restart("streampose/cam/poses"), timeout=DEADLINE_S,
                   what="poses after the reconnection")
        assert proc.wait(timeout=300) == 0, (tmp_path / "stderr.txt").read_text()
    finally:
        if proc.poll() is None:
            kill_group(proc)
        subscriber.close()
    stream = json.loads(summary.read_text())["streams"][0]
    assert stream["frames_in"] == stream["frames_out"] == lines(out) == FRAMES  # no stall
    received = len(subscriber.on("streampose/cam/poses"))
    assert stream["mqtt_dropped"] >= 1 and received + stream["mqtt_dropped"] <= FRAMES
    final = (tmp_path / "stderr.txt").read_text().strip().splitlines()[-1]
    assert f"MQTT messages dropped: {stream['mqtt_dropped']}" in final


def test_wrong_password_exits_2_with_one_line(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "auth", users={"cam": "right"}).start()
    try:
        clip = make_video(tmp_path / "c.mp4", frames=3)
        url = broker.url(user="cam", password="s3cret-wrong")
        result = subprocess.run(run_args(clip, url), capture_output=True, text=True,
                                timeout=300)
        assert result.returncode == 2
        assert result.stderr.strip().splitlines() == [
            f"streampose: error: --mqtt mqtt://cam:***@127.0.0.1:{broker.port}/streampose: "
            "the broker refused the connection: not authorized"]
        ok = subprocess.run(run_args(clip, broker.url(user="cam", password="right")),
                            capture_output=True, text=True, timeout=300)
        assert ok.returncode == 0, ok.stderr
    finally:
        broker.stop()


def test_unreachable_broker_at_start_the_run_completes(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "c.mp4", frames=12)
    summary = tmp_path / "s.json"
    url = f"mqtt://user:pw-secret@127.0.0.1:{free_port()}/x"
    result = subprocess.run(run_args(clip, url, "--summary", str(summary)),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    stream = json.loads(summary.read_text())["streams"][0]
    assert stream["frames_out"] == 12 and stream["mqtt_dropped"] == 12
    assert "unreachable" in result.stderr and "pw-secret" not in result.stderr
    assert "MQTT messages dropped: 12" in result.stderr.strip().splitlines()[-1]


def test_bad_url_exits_2_before_anything_starts(tmp_path: Path) -> None:
    clip = make_video(tmp_path / "c.mp4", frames=2)
    result = subprocess.run(run_args(clip, "mqtt://u:pw-secret@host:99999"),
                            capture_output=True, text=True, timeout=300)
    assert result.returncode == 2
    assert len(result.stderr.strip().splitlines()) == 1 and "pw-secret" not in result.stderr
    assert "port is not a number" in result.stderr
