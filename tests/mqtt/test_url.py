"""Broker URLs: defaults, credentials, TLS, and one clear error that never shows the
password."""

from __future__ import annotations

import pytest

from streampose.config.sections import MqttConfig
from streampose.errors import ConfigError
from streampose.mqtt.url import BrokerUrl, parse_broker_url


def test_defaults_port_and_prefix() -> None:
    url = parse_broker_url("mqtt://broker.lan")
    assert url == BrokerUrl(host="broker.lan", port=1883, prefix="streampose")
    assert url.topic("cam", "poses") == "streampose/cam/poses"


def test_credentials_port_prefix_and_tls() -> None:
    url = parse_broker_url("mqtts://ann:p%40ss@10.0.0.2:8884/site/north/")
    assert (url.host, url.port, url.prefix, url.tls) == ("10.0.0.2", 8884, "site/north", True)
    assert (url.username, url.password) == ("ann", "p@ss")
    assert parse_broker_url("mqtts://h").port == 8883


def test_str_and_repr_hide_the_password() -> None:
    url = parse_broker_url("mqtt://ann:hunter2@h:1884/x")
    assert str(url) == "mqtt://ann:***@h:1884/x"
    assert "hunter2" not in repr(url)


@pytest.mark.parametrize(("text", "why"), [
    ("http://h", "scheme must be mqtt or mqtts"),
    ("h:1883", "scheme must be mqtt or mqtts"),
    ("mqtt:///prefix", "no broker host"),
    ("mqtt://ann:hunter2@h:port/x", "port is not a number"),
    ("mqtt://ann:hunter2@h:70000", "port is not a number"),
    ("mqtt://ann:hunter2", "port is not a number"),
    ("mqtt://h/a/+/b", "wildcard"),
    ("mqtt://h/a//b", "empty level"),
    ("mqtt://h/x?y=1", "no query"),
])
def test_bad_urls_are_one_clear_error_without_the_password(text: str, why: str) -> None:
    with pytest.raises(ConfigError) as caught:
        MqttConfig(url=text)  # checked when the config is made
    message = str(caught.value)
    assert why in message and "hunter2" not in message and "\n" not in message
