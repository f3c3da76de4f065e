"""MQTT sink: each frame's poses and events to ``<prefix>/<camera>/poses|events``.

A poses message is the frame's JSON lines object (:func:`streampose.outputs.jsonl.frame_record`),
QoS 0, for the frames the camera's :class:`~streampose.mqtt.gate.FrameGate` admits
(``--mqtt-every``, ``--mqtt-max-rate``); an events message is one event's
``to_json()``, QoS 1. One sink (one broker connection) serves every stream its render
process is handed, so a render stage split by stream gets one connection per process.
Publishing never waits: messages the broker cannot take (down, or the queue full) are
dropped and counted per stream in the shared counter ``mqtt_dropped``.

With ``--mqtt-discovery`` the sink also keeps each camera's figures for Home Assistant
(:class:`~streampose.mqtt.counts.CameraCounts`: people, fall, line counts) and publishes
them on ``<prefix>/<camera>/state`` (retained, QoS 1) when they change.
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from streampose.config.sections import MqttConfig
from streampose.mqtt.client import Publisher
from streampose.mqtt.counts import CameraCounts
from streampose.mqtt.discovery import LineRef
from streampose.mqtt.gate import FrameGate
from streampose.mqtt.status import node_name
from streampose.mqtt.url import parse_broker_url
from streampose.observe.counters import StreamCounters
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.jsonl import encode_record, frame_record
from streampose.pose import Poses

if TYPE_CHECKING:
    from streampose.events.event import Event

__all__ = ["DROPPED", "MqttSink"]

DROPPED = "mqtt_dropped"  # the shared counter of messages dropped, per stream
FLUSH_S = 2.0  # longest wait at close for the messages in flight


class MqttSink(Sink):
    """Poses (gated) and events of every stream, to one broker connection; with
    ``config.discovery``, each camera's state too (``lines``: the line rules, ``fall``:
    whether the fall rule is on)."""

    wants_events = True

    def __init__(self, *, config: MqttConfig, cameras: Sequence[str],
                 counters: StreamCounters | None = None, lines: Sequence[LineRef] = (),
                 fall: bool = False) -> None:
        assert config.url is not None, "no --mqtt URL"
        self.config, self.cameras, self.counters = config, list(cameras), counters
        self.lines, self.fall = tuple(lines), fall
        self._counts: dict[int, CameraCounts] = {}
        self.url = parse_broker_url(config.url)
        self.gates = [FrameGate(every=config.every, max_rate=config.max_rate)
                      for _ in self.cameras]
        self.published = self.dropped = 0
        self._counted: dict[int, int] = {}
        self._publisher: Publisher | None = None

    def open(self) -> None:
        cfg = self.config
        client_id = f"streampose-{node_name(cfg)}-{os.getpid()}-out"
        self._publisher = Publisher(self.url, client_id=client_id, max_queued=cfg.max_queued,
                                    max_backoff_s=cfg.max_backoff_s,
                                    connect_timeout_s=cfg.connect_timeout_s,
                                    ca_file=cfg.ca_file, what="MQTT")
        self._publisher.start(cfg.connect_timeout_s, warn=False)  # the parent warns

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        if self.gates[meta.stream].admit(meta.pts_s):
            self._publish(meta.stream, "poses", encode_record(frame_record(meta, poses)), 0)
            counts = self._counts_of(meta.stream)
            if counts is not None:
                counts.frame(meta.pts_s, meta.wall, len(poses))
                self._publish_state(meta.stream, counts)

    def write_events(self, meta: FrameMeta, events: Sequence[Event]) -> None:
        for event in events:
            self._publish(meta.stream, "events", json.dumps(event.to_json()), 1)
        counts = self._counts_of(meta.stream)
        if counts is not None and events:
            counts.events(events)
            self._publish_state(meta.stream, counts)

    def _counts_of(self, stream: int) -> CameraCounts | None:
        """The figures of the stream's camera (afresh for a new camera on the seat);
        None without discovery."""
        if self.config.discovery is None:
            return None
        camera = self.cameras[stream]
        counts = self._counts.get(stream)
        if counts is None or counts.camera != camera:
            lines = [rule.name for rule in self.lines if rule.applies(camera)]
            counts = self._counts[stream] = CameraCounts(camera=camera, lines=lines,
                                                         fall=self.fall)
        return counts

    def _publish_state(self, stream: int, counts: CameraCounts) -> None:
        payload = counts.changed()
        if payload is not None:
            self._publish(stream, "state", payload, 1, retain=True)

    def _publish(self, stream: int, kind: str, payload: str, qos: int, *,
                 retain: bool = False) -> None:
        publisher = self._publisher
        assert publisher is not None, "open() first"
        topic = self.url.topic(self.cameras[stream], kind)
        if publisher.publish(topic, payload, qos=qos, tag=stream, retain=retain):
            self.published += 1
        self._count_drops()

    def _count_drops(self) -> None:
        """Add the drops not yet counted to each stream's shared counter."""
        publisher = self._publisher
        if publisher is None:
            return
        self.dropped = publisher.dropped
        if self.counters is None:
            return
        for stream, total in publisher.dropped_by.items():
            new = total - self._counted.get(stream, 0)
            if new:
                self.counters.add(stream, DROPPED, new)
                self._counted[stream] = total

    def close(self) -> None:
        publisher = self._publisher
        if publisher is None:
            return
        publisher.stop(flush_s=FLUSH_S)
        self._count_drops()
        self._publisher = None

