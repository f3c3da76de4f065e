"""The publisher against a real broker: retained messages come back after a broker
restart, QoS 0 messages are dropped and counted while it is away, refused credentials
are one configuration error, and a missing paho-mqtt is one line."""

from __future__ import annotations

import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from streampose.errors import ConfigError
from streampose.mqtt.client import Publisher, require_paho
from streampose.mqtt.url import parse_broker_url
from tests.broker import DEADLINE_S, Mosquitto, Subscriber, make_certificates
from tests.support.waiting import wait_until


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


def test_a_broker_that_stops_reading_fills_the_queue_and_drops(broker: Mosquitto) -> None:
    publisher = Publisher(parse_broker_url(broker.url()), client_id="t-full", max_queued=20)
    assert publisher.start(DEADLINE_S)
    assert broker.proc is not None
    broker.proc.send_signal(signal.SIGSTOP)  # connected, but reads nothing: buffers fill
    try:
        payload = "x" * 65536
        sent = sum(publisher.publish("streampose/cam/poses", payload) for _ in range(2000))
        # 128 MB offered; the socket buffers take a few MB, the queue 20 messages more
        assert publisher.dropped == 2000 - sent and publisher.dropped > 1000
        assert publisher.queued <= 20
    finally:
        broker.proc.send_signal(signal.SIGCONT)
        publisher.stop(flush_s=0.0)


def test_tls_broker_with_its_ca_file(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path / "certs")
    broker = Mosquitto(tmp_path / "tls", tls=certificates).start()
    try:
        subscriber = Subscriber(broker, "streampose/#")
        url = parse_broker_url(broker.url())
        assert url.tls
        publisher = Publisher(url, client_id="t-tls", ca_file=certificates.ca)
        assert publisher.start(DEADLINE_S)
        publisher.publish_retained("streampose/availability", "online")
        got = subscriber.wait_for("streampose/availability", lambda m: True,
                                  what="a message over TLS")
        assert got.text == "online"
        publisher.stop()
        subscriber.close()
        untrusted = Publisher(url, client_id="t-tls-untrusted")  # the system's CAs only
        assert not untrusted.start(DEADLINE_S)
        untrusted.stop(flush_s=0.0)
    finally:
        broker.stop()


def test_an_unreadable_ca_file_is_one_config_error(tmp_path: Path) -> None:
    pytest.importorskip("paho.mqtt.client")
    with pytest.raises(ConfigError, match="--mqtt-ca"):
        Publisher(parse_broker_url("mqtts://h"), client_id="t", ca_file=tmp_path / "none.pem")
