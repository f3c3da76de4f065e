"""A real MQTT broker for the tests: Debian's ``mosquitto`` on a free loopback port, and
a paho-mqtt subscriber that records every message.

:func:`mosquitto_or_skip` skips the test (with the reason) when mosquitto or paho-mqtt is
missing (``.ci/apt-mqtt.sh`` installs mosquitto).
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.support.ports import free_port
from tests.support.waiting import wait_until

DEADLINE_S = 60.0  # generous: the machine may be loaded


def mosquitto_or_skip() -> str:
    """The mosquitto executable; skips the test when it (or paho-mqtt) is missing."""
    pytest.importorskip("paho.mqtt.client", reason="needs paho-mqtt (pip install .[mqtt])")
    found = shutil.which("mosquitto") or shutil.which("mosquitto", path="/usr/sbin:/sbin")
    if found is None:
        pytest.skip("needs Debian's mosquitto broker (bash .ci/apt.sh mqtt installs it)")
    return found


@dataclass(frozen=True)
class Certificates:
    """A test CA and a server certificate for 127.0.0.1 signed by it (PEM files)."""

    ca: Path
    cert: Path
    key: Path


def make_certificates(folder: Path) -> Certificates:
    """A throw-away CA and server certificate made with the openssl command (skips the
    test without it)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("needs the openssl command to make test certificates")
    folder.mkdir(parents=True, exist_ok=True)
    ca, ca_key = folder / "ca.pem", folder / "ca.key"
    cert, key, csr = folder / "server.pem", folder / "server.key", folder / "server.csr"
    extensions = folder / "san.cnf"
    extensions.write_text("subjectAltName=IP:127.0.0.1\n")
    for args in (
        ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", ca_key, "-out", ca,
         "-days", "2", "-subj", "/CN=streampose test CA"],
        ["req", "-newkey", "rsa:2048", "-nodes", "-keyout", key, "-out", csr,
         "-subj", "/CN=127.0.0.1"],
        ["x509", "-req", "-in", csr, "-CA", ca, "-CAkey", ca_key, "-CAcreateserial",
         "-out", cert, "-days", "2", "-extfile", extensions],
    ):
        subprocess.run([openssl, *map(str, args)], check=True, capture_output=True)
    return Certificates(ca=ca, cert=cert, key=key)


class Mosquitto:
    """One mosquitto process on ``127.0.0.1:port``; ``users``: name -> password (then
    anonymous clients are refused). ``stop``/``start`` again keep the port."""

    def __init__(self, folder: Path, *, users: dict[str, str] | None = None,
                 tls: Certificates | None = None) -> None:
        self.exe = mosquitto_or_skip()
        self.folder, self.users, self.tls, self.port = folder, users, tls, free_port()
        self.proc: subprocess.Popen[bytes] | None = None
        self.config = self._write_config()

    def _write_config(self) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        lines = [f"listener {self.port} 127.0.0.1", "persistence false"]
        if os.geteuid() == 0:  # stay root: user "mosquitto" cannot read a 0700 tmp folder
            lines.append("user root")
        if self.tls is not None:
            lines += [f"cafile {self.tls.ca}", f"certfile {self.tls.cert}",
                      f"keyfile {self.tls.key}"]
        if self.users:
            passwords = self.folder / "passwords"
            passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
            for i, (user, password) in enumerate(self.users.items()):
                create = ["-c"] if i == 0 else []
                subprocess.run([passwd, *create, "-b", str(passwords), user, password],
                               check=True, capture_output=True)
            lines += ["allow_anonymous false", f"password_file {passwords}"]
        else:
            lines.append("allow_anonymous true")
        config = self.folder / "mosquitto.conf"
        config.write_text("\n".join(lines) + "\n")
        return config

    def url(self, *, user: str | None = None, password: str | None = None,
            prefix: str = "") -> str:
        auth = f"{user}:{password}@" if user is not None else ""
        scheme = "mqtts" if self.tls is not None else "mqtt"
        return f"{scheme}://{auth}127.0.0.1:{self.port}" + (f"/{prefix}" if prefix else "")

    def start(self) -> Mosquitto:
        log = open(self.folder / "mosquitto.log", "ab")  # noqa: SIM115 - the process owns it
        self.proc = subprocess.Popen([self.exe, "-c", str(self.config)], stdout=log,
                                     stderr=subprocess.STDOUT)
        log.close()
        wait_until(self._listening, timeout=DEADLINE_S, what="mosquitto to listen")
        return self

    def _listening(self) -> bool:
        assert self.proc is not None
        if self.proc.poll() is not None:
            pytest.fail("mosquitto exited: " + (self.folder / "mosquitto.log").read_text())
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=1):
                return True
        except OSError:
            return False

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=DEADLINE_S)
        self.proc = None


@dataclass(frozen=True)
class Message:
    topic: str
    text: str
    retain: bool
    qos: int


class Subscriber:
    """A paho client subscribed to ``topic`` that records what it receives; it
    reconnects (and subscribes again) by itself when the broker restarts."""

    def __init__(self, broker: Mosquitto, topic: str = "#", *,
                 user: str | None = None, password: str | None = None) -> None:
        import paho.mqtt.client as mqtt

        self.topic = topic
        self.messages: list[Message] = []
        self._lock = threading.Lock()
        self._subscribed = threading.Event()
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2)
        if user is not None:
            self.client.username_pw_set(user, password)
        if broker.tls is not None:
            self.client.tls_set(ca_certs=str(broker.tls.ca))
        self.client.reconnect_delay_set(1, 1)
        self.client.on_connect = self._on_connect
        self.client.on_subscribe = lambda *a: self._subscribed.set()
        self.client.on_message = self._on_message
        self.client.connect_async("127.0.0.1", broker.port)
        self.client.loop_start()
        wait_until(self._subscribed.is_set, timeout=DEADLINE_S, what="the subscription")

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any,
                    properties: Any) -> None:
        if not reason.is_failure:
            client.subscribe(self.topic, qos=1)

    def _on_message(self, client: Any, userdata: Any, msg: Any) -> None:
        with self._lock:
            self.messages.append(Message(msg.topic, msg.payload.decode(), bool(msg.retain),
                                         msg.qos))

    def on(self, topic: str) -> list[Message]:
        """The messages received on ``topic`` so far, in order."""
        with self._lock:
            return [m for m in self.messages if m.topic == topic]

    def wait_for(self, topic: str, check: Callable[[Message], bool], *, what: str) -> Message:
        """The first message on ``topic`` for which ``check`` holds (waits for it)."""
        return wait_until(lambda: next((m for m in self.on(topic) if check(m)), None),
                          timeout=DEADLINE_S, what=what)

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()


def settle(subscriber: Subscriber, broker: Mosquitto) -> None:
    """Wait until ``subscriber`` has received everything published before now: a marker
    published on a topic of its own comes back after the earlier messages."""
    import paho.mqtt.publish as publish

    marker = f"settle/{time.monotonic_ns()}"
    publish.single(marker, "x", hostname="127.0.0.1", port=broker.port, qos=1)
    wait_until(lambda: subscriber.on(marker), timeout=DEADLINE_S, what="the settle marker")
