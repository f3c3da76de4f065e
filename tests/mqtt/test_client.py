"""The publisher against a real broker: retained messages come back after a broker
restart, QoS 0 messages are dropped and counted while it is away, refused credentials
are one configuration error, and a missing paho-mqtt is one line."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streampose.errors import ConfigError
from streampose.mqtt.client import Publisher, require_paho
from streampose.mqtt.url import parse_broker_url
from tests.broker import DEADLINE_S, Mosquitto, Subscriber
from tests.helpers import wait_until


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Mosquitto]:
    mosquitto = Mosquitto(tmp_path / "broker").start()
    yield mosquitto
    mosquitto.stop()


def test_retained_messages_are_sent_again_after_the_broker_restarts(
        broker: Mosquitto) -> None:
    publisher = Publisher(parse_broker_url(broker.url()), client_id="t-retained",
                          max_backoff_s=1)
    assert publisher.start(DEADLINE_S)
    try:
        publisher.publish_retained("streampose/cam/status", "first")
        assert publisher.publish("streampose/cam/poses", "{}")
        broker.stop()  # no persistence: the broker forgets the retained message
        wait_until(lambda: not publisher.connected, timeout=DEADLINE_S, what="the loss")
        publisher.publish_retained("streampose/cam/status", "second")
        assert not publisher.publish("streampose/cam/poses", "{}")
        assert publisher.dropped_by == {0: 1}
        broker.start()
        wait_until(lambda: publisher.connected, timeout=DEADLINE_S, what="the reconnection")
        subscriber = Subscriber(broker, "streampose/cam/status")
        try:
            got = subscriber.wait_for("streampose/cam/status", lambda m: m.retain,
                                      what="the retained status")
            assert got.text == "second"
        finally:
            subscriber.close()
    finally:
        publisher.stop()


def test_refused_credentials_are_one_config_error(tmp_path: Path) -> None:
    broker = Mosquitto(tmp_path / "auth", users={"ann": "right"}).start()
    try:
        url = parse_broker_url(broker.url(user="ann", password="wrong-secret"))
        publisher = Publisher(url, client_id="t-auth")
        with pytest.raises(ConfigError) as caught:
            publisher.start(DEADLINE_S)
        message = str(caught.value)
        assert "refused" in message and "wrong-secret" not in message
        assert "\n" not in message
        good = Publisher(parse_broker_url(broker.url(user="ann", password="right")),
                         client_id="t-auth-ok")
        assert good.start(DEADLINE_S)
        good.stop()
    finally:
        broker.stop()


def test_missing_paho_is_one_line(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "paho.mqtt.client", None)  # import fails
    with pytest.raises(ConfigError, match=r'pip install "streampose\[mqtt\]"'):
        require_paho()


def test_the_core_never_imports_paho() -> None:
    code = ("import sys, streampose.cli, streampose.stages.render, streampose.outputs.mqtt; "
            "sys.exit('paho' in ' '.join(sys.modules))")
    assert subprocess.run([sys.executable, "-c", code], timeout=120).returncode == 0
