"""The parent's MQTT messages: availability, each camera's status, discovery configs.

- ``<prefix>/node/<node>/availability``: this pipeline's. ``online`` while the run goes
  on, ``offline`` after it; the broker publishes ``offline`` itself (the connection's
  last will) when the run dies without saying goodbye (killed). Each pipeline has its
  own topic (``<node>``: ``--mqtt-node``, a fleet node's name, or the host name), so in a
  fleet a lost node's will says only that node is gone. (The shared
  ``<prefix>/availability`` is the fleet controller's: :mod:`streampose.fleet.publish`.)
- ``<prefix>/<camera>/status``: a JSON object::

    {"camera": "entrance", "state": "online", "node": "host1", "fps": 24.8,
     "fps_in": 25.0, "lag_s": 0.081, "time": 1764650000.123, "frames_in": 1200, ...}

  with ``state`` the camera's state as the live view computed it on this tick (one
  vocabulary: :mod:`streampose.observe.camera_state`; ``moved`` and the other fleet
  states are a fleet's), the output and input rates, ``lag_s`` (capture to output, p95
  over the recent window, None before the first frame) and every shared counter
  (:data:`streampose.observe.counters.FIELDS`).
- ``<prefix>/<camera>/availability``: ``online`` while the camera's state is
  ``online`` or ``stalled`` (frames are being processed), else ``offline``
  (:func:`camera_availability`). One connection has one last will: a killed pipeline
  leaves its cameras' last word, so a camera's availability holds only while its
  node's is ``online`` (Home Assistant's configs say so: ``availability_mode: all``;
  a fleet's controller says ``offline`` for the cameras of a lost node).
- with ``--mqtt-discovery``: Home Assistant's discovery configs of each camera
  (:mod:`streampose.mqtt.discovery`), published when the camera joins the run and
  cleared (an empty retained message) when it leaves it.

All are retained, QoS 1; a status is sent when the camera's state changes and every
``status_interval_s``, and all are sent again after a reconnection to the broker.
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import time
from collections.abc import Mapping, Sequence
from typing import Any

from streampose.config.sections import MqttConfig
from streampose.lifecycle import Resource
from streampose.mqtt.client import Publisher
from streampose.mqtt.discovery import Discovery, line_refs
from streampose.mqtt.url import BrokerUrl, parse_broker_url
from streampose.observe.camera_state import OFFLINE, ONLINE, STALLED, STARTING
from streampose.observe.counters import FIELDS

__all__ = ["AVAILABLE_STATES", "FINAL_WAIT_S", "StatusPublisher", "camera_availability",
           "node_name", "status_payload"]

log = logging.getLogger(__name__)

FINAL_WAIT_S = 2.0  # longest wait for the final offline messages at the end of a run
AVAILABLE_STATES = (ONLINE, STALLED)  # a camera whose frames are being processed

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


def node_name(config: MqttConfig) -> str:
    """This machine's name in status messages and its availability topic:
    ``[mqtt].node``, else the host name (characters other than letters, digits, ``.``,
    ``_`` and ``-`` made ``_``)."""
    return config.node or _UNSAFE.sub("_", socket.gethostname()) or "node"


def camera_availability(state: str) -> str:
    """``online`` for a camera in one of :data:`AVAILABLE_STATES`, else ``offline``."""
    return ONLINE if state in AVAILABLE_STATES else OFFLINE


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
    """Availability, per-camera status and discovery configs from the parent process.

    ``open`` connects (at most ``connect_timeout_s``; a refused password is a
    ConfigError, an unreachable broker a warning), says ``online`` and publishes the
    cameras' discovery configs; ``update`` runs on the supervisor's tick; ``close``
    sends every camera ``offline``, then the node's availability ``offline``, and
    disconnects. ``lines`` (``[events] line`` tables) and ``fall`` (the fall rule is on):
    what the discovery configs describe, with ``config.discovery``.
    """

    def __init__(self, config: MqttConfig, *, cameras: Sequence[str],
                 lines: Sequence[Mapping[str, object]] = (), fall: bool = False) -> None:
        assert config.url is not None, "no --mqtt URL"
        self.config, self.cameras = config, list(cameras)
        self.url: BrokerUrl = parse_broker_url(config.url)
        self.node = node_name(config)
        self.discovery = None if config.discovery is None else Discovery(
            prefix=config.discovery, url=self.url, node=self.node, lines=line_refs(lines),
            fall=fall)
        self._shown: list[str | None] = [None] * len(self.cameras)
        self._available: list[str | None] = [None] * len(self.cameras)
        self._latest: list[Mapping[str, Any]] = [{} for _ in self.cameras]
        self._next_all = 0.0
        self.publisher: Publisher | None = None

    @property
    def availability(self) -> str:
        """This pipeline's availability topic (its last will)."""
        return self.url.topic("node", self.node, "availability")

    def open(self) -> None:
        cfg = self.config
        publisher = Publisher(self.url, client_id=f"streampose-{self.node}-{os.getpid()}",
                              max_queued=cfg.max_queued, max_backoff_s=cfg.max_backoff_s,
                              connect_timeout_s=cfg.connect_timeout_s,
                              ca_file=cfg.ca_file,
                              will=(self.availability, OFFLINE), what="MQTT")
        publisher.start(cfg.connect_timeout_s)  # ConfigError: refused credentials
        publisher.publish_retained(self.availability, ONLINE)
        self.publisher = publisher
        for camera in self.cameras:
            self._discover(camera)

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
        was removed): the camera that was there is sent ``offline`` and its discovery
        configs are cleared (unless it is on another seat now), the new one's published."""
        left = self.cameras[i]
        if camera == left:
            return
        if left and self.publisher is not None:
            self._send(i, OFFLINE)
        self.cameras[i] = camera
        self._shown[i] = self._available[i] = None
        if left and left not in self.cameras:
            self._forget(left)
        self._discover(camera)

    def _send(self, i: int, state: str) -> None:
        assert self.publisher is not None
        if not self.cameras[i]:
            return  # an idle seat: no camera to speak of
        if state != self._shown[i]:
            log.info("camera %s: %s", self.cameras[i], state)
        self._shown[i] = state
        payload = status_payload(self.cameras[i], state, self.node, self._latest[i])
        self.publisher.publish_retained(self.url.topic(self.cameras[i], "status"), payload)
        available = camera_availability(state)
        if available != self._available[i]:
            self._available[i] = available
            self.publisher.publish_retained(self.url.topic(self.cameras[i], "availability"),
                                            available)

    def _discover(self, camera: str) -> None:
        """Publish ``camera``'s discovery configs (with ``--mqtt-discovery``)."""
        if self.discovery is None or not camera or self.publisher is None:
            return
        for topic, config in self.discovery.configs(camera).items():
            self.publisher.publish_retained(topic, config)

    def _forget(self, camera: str) -> None:
        """Clear the discovery configs of ``camera``, which left the run."""
        if self.discovery is None or self.publisher is None:
            return
        for topic in self.discovery.topics(camera):
            self.publisher.publish_retained(topic, "")

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
