"""The parent's MQTT messages: ``<prefix>/availability`` and ``<prefix>/<camera>/status``.

``availability`` is ``online`` while the run goes on and ``offline`` after it; the
broker publishes ``offline`` itself (the connection's last will) when the run dies
without saying goodbye (killed). Each camera's ``status`` is a JSON object::

    {"camera": "entrance", "state": "online", "node": "host1", "fps": 24.8,
     "fps_in": 25.0, "lag_s": 0.081, "time": 1764650000.123, "frames_in": 1200, ...}

with ``state`` the camera's state as the live view computed it on this tick (one
vocabulary: :mod:`streampose.observe.camera_state`; ``moved`` and the other fleet states
are a fleet's), the
output and input rates, ``lag_s`` (capture to output, p95 over the recent window, None
before the first frame) and every shared counter (:data:`streampose.observe.counters.FIELDS`).
Both are retained, QoS 1; a status is sent when the camera's state changes and every
``status_interval_s``, and all are sent again after a reconnection to the broker.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from streampose.config.sections import MqttConfig
from streampose.lifecycle import Resource
from streampose.mqtt.client import Publisher
from streampose.mqtt.url import BrokerUrl, parse_broker_url
from streampose.observe.camera_state import OFFLINE, STARTING
from streampose.observe.counters import FIELDS

__all__ = ["FINAL_WAIT_S", "StatusPublisher", "node_name", "status_payload"]

log = logging.getLogger(__name__)

FINAL_WAIT_S = 2.0  # longest wait for the final offline messages at the end of a run


def node_name(config: MqttConfig) -> str:
    """This machine's name in status messages: ``[mqtt].node``, else the host name."""
    return config.node or socket.gethostname() or "node"


def status_payload(camera: str, state: str, node: str, stream: Mapping[str, Any],
                   **extra: Any) -> str:
    """The JSON status of one camera from its live figures (a MetricsSnapshot stream);
    ``extra``: more keys (a fleet's ``moved`` says ``from``)."""
    lag = stream.get("latency_p95")
    record: dict[str, Any] = {
        "camera": camera, "state": state, "node": node, **extra,
        "fps": round(float(stream.get("fps_out") or 0.0), 3),
        "fps_in": round(float(stream.get("fps_in") or 0.0), 3),
        "lag_s": None if lag is None else round(float(lag), 4),
        "time": round(time.time(), 3)}
    record.update({name: int(stream.get(name, 0)) for name in FIELDS})
    return json.dumps(record, separators=(",", ":"))


class StatusPublisher(Resource):
    """Availability and per-camera status from the parent process.

    ``open`` connects (at most ``connect_timeout_s``; a refused password is a
    ConfigError, an unreachable broker a warning) and says ``online``; ``update`` runs on
    the supervisor's tick; ``close`` sends every camera ``offline``, then the
    availability ``offline``, and disconnects.
    """

    def __init__(self, config: MqttConfig, *, cameras: Sequence[str]) -> None:
        assert config.url is not None, "no --mqtt URL"
        self.config, self.cameras = config, list(cameras)
        self.url: BrokerUrl = parse_broker_url(config.url)
        self.node = node_name(config)
        self._shown: list[str | None] = [None] * len(self.cameras)
        self._latest: list[Mapping[str, Any]] = [{} for _ in self.cameras]
        self._next_all = 0.0
        self.publisher: Publisher | None = None

    @property
    def availability(self) -> str:
        return self.url.topic("availability")

    def open(self) -> None:
        cfg = self.config
        publisher = Publisher(self.url, client_id=f"streampose-{self.node}-{os.getpid()}",
                              max_queued=cfg.max_queued, max_backoff_s=cfg.max_backoff_s,
                              connect_timeout_s=cfg.connect_timeout_s,
                              ca_file=cfg.ca_file,
                              will=(self.availability, OFFLINE), what="MQTT")
        publisher.start(cfg.connect_timeout_s)  # ConfigError: refused credentials
        publisher.publish_retained(self.availability, "online")
        self.publisher = publisher

    def update(self, now: float, streams: Sequence[Mapping[str, Any]]) -> None:
        """Send the status of each camera whose state changed, and of all of them every
        ``status_interval_s``; ``streams``: the live figures of this tick (a
        MetricsSnapshot's), whose ``state`` each camera's status says."""
        if self.publisher is None or len(streams) != len(self.cameras):
            return
        due = now >= self._next_all
        if due:
            self._next_all = now + self.config.status_interval_s
        for i, stream in enumerate(streams):
            state = str(stream.get("state") or STARTING)
            self._latest[i] = stream
            if due or state != self._shown[i]:
                self._send(i, state)

    def rename(self, i: int, camera: str) -> None:
        """Stream ``i`` now carries ``camera`` (``""``: none; a seat whose camera
        was removed): the camera that was there is sent ``offline``."""
        if camera == self.cameras[i]:
            return
        if self.cameras[i] and self.publisher is not None:
            self._send(i, OFFLINE)
        self.cameras[i] = camera
        self._shown[i] = None

    def _send(self, i: int, state: str) -> None:
        assert self.publisher is not None
        if not self.cameras[i]:
            return  # an idle seat: no camera to speak of
        if state != self._shown[i]:
            log.info("camera %s: %s", self.cameras[i], state)
        self._shown[i] = state
        payload = status_payload(self.cameras[i], state, self.node, self._latest[i])
        self.publisher.publish_retained(self.url.topic(self.cameras[i], "status"), payload)

    def close(self) -> None:
        publisher = self.publisher
        if publisher is None:
            return
        try:
            for i in range(len(self.cameras)):
                self._send(i, OFFLINE)
            publisher.publish_retained(self.availability, OFFLINE)
            publisher.wait_retained(FINAL_WAIT_S)
        finally:
            self.publisher = None
            publisher.stop(flush_s=0.0)
