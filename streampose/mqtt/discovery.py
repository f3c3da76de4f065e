"""Home Assistant MQTT discovery (``--mqtt-discovery [PREFIX]``): a device per camera.

Home Assistant creates an entity for every retained JSON config it finds on
``<discovery prefix>/<component>/<node_id>/<object_id>/config`` and removes it when that
config is replaced by an empty retained message. :class:`Discovery` makes each camera's
configs (:meth:`Discovery.configs`); :class:`~streampose.mqtt.status.StatusPublisher`
publishes them when a camera joins the run and clears them when it leaves. Per camera
(``<node_id>`` is ``<url prefix>_<camera>`` in the characters Home Assistant allows):

- ``sensor`` ``people``: the people on the last published frame
  (``<prefix>/<camera>/state``, ``{{ value_json.people }}``);
- ``binary_sensor`` ``online``: the camera's availability (``<prefix>/<camera>/availability``,
  ``online``/``offline``, derived from its status), itself available while its node's
  pipeline is (``<prefix>/node/<node>/availability``: the pipeline's last will);
- ``sensor`` ``last_event``: the type of its last event (``<prefix>/<camera>/events``);
- ``binary_sensor`` ``fall`` (with ``--fall``): ``ON`` for :data:`FALL_HOLD_S` s after a
  fall (``{{ value_json.fall }}``);
- ``sensor`` ``line_<rule>_in`` and ``line_<rule>_out`` per line rule of the camera:
  crossings since the camera started on this run (``total_increasing``).

Every entity but ``online`` is available only while both the node's pipeline and the
camera are (``availability_mode: all``). The ``state`` topic's payload is made by
:class:`streampose.mqtt.counts.CameraCounts`.
"""

from __future__ import annotations

import functools
import importlib.metadata
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from streampose.mqtt.url import BrokerUrl

__all__ = ["FALL_HOLD_S", "Discovery", "LineRef", "line_refs", "safe_id"]

FALL_HOLD_S = 10.0  # a fall keeps the fall sensor ON this long (presentation time)
ONLINE, OFFLINE = "online", "offline"

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]")


def safe_id(text: str) -> str:
    """``text`` in the characters Home Assistant allows in a node or object id."""
    return _UNSAFE.sub("_", text)


@functools.lru_cache(maxsize=1)
def _version() -> str:
    """The installed streampose's version (its package metadata)."""
    try:
        return importlib.metadata.version("streampose")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def _quoted(text: str) -> str:
    return json.dumps(text, ensure_ascii=False)


@dataclass(frozen=True)
class LineRef:
    """A line rule by name; ``camera``: the one camera it applies to (None: all)."""

    name: str
    camera: str | None = None

    def applies(self, camera: str) -> bool:
        return self.camera is None or self.camera == camera


def line_refs(tables: Sequence[Mapping[str, object]]) -> tuple[LineRef, ...]:
    """The line rules of ``[events] line`` tables (their ``name`` and ``camera``)."""
    refs = []
    for table in tables:
        camera = table.get("camera")
        refs.append(LineRef(str(table.get("name", "")),
                            None if camera is None else str(camera)))
    return tuple(refs)


@dataclass(frozen=True, kw_only=True)
class Discovery:
    """The discovery configs of the cameras of one pipeline. ``prefix``: Home Assistant's
    discovery prefix; ``url``: the broker URL whose prefix the state topics are under;
    ``node``: the pipeline's node name; ``lines``/``fall``: its event rules."""

    prefix: str
    url: BrokerUrl
    node: str
    lines: tuple[LineRef, ...] = ()
    fall: bool = False
    _origin: dict[str, str] = field(default_factory=lambda: {
        "name": "streampose", "sw_version": _version()})

    @property
    def node_availability(self) -> str:
        return self.url.topic("node", self.node, "availability")

    def node_id(self, camera: str) -> str:
        return safe_id(f"{self.url.prefix.replace('/', '_')}_{camera}")

    def topics(self, camera: str) -> list[str]:
        """The config topics of ``camera`` (to clear them: an empty retained message)."""
        return list(self.configs(camera))

    def configs(self, camera: str) -> dict[str, str]:
        """Config topic -> JSON config, for every entity of ``camera``."""
        entities = [self._people(camera), self._online(camera), self._last_event(camera)]
        if self.fall:
            entities.append(self._fall(camera))
        for rule in self.lines:
            if rule.applies(camera):
                entities += [self._line(camera, rule.name, way) for way in ("in", "out")]
        return {self._topic(camera, component, object_id):
                json.dumps(self._common(camera, object_id) | config, separators=(",", ":"))
                for component, object_id, config in entities}

    # -- the entities ----------------------------------------------------------------------

    def _people(self, camera: str) -> tuple[str, str, dict[str, Any]]:
        return "sensor", "people", {
            "name": "People", "state_topic": self.url.topic(camera, "state"),
            "value_template": "{{ value_json.people }}", "state_class": "measurement",
            "unit_of_measurement": "people", "icon": "mdi:account-group"}

    def _online(self, camera: str) -> tuple[str, str, dict[str, Any]]:
        return "binary_sensor", "online", {
            "name": "Online", "state_topic": self.url.topic(camera, "availability"),
            "payload_on": ONLINE, "payload_off": OFFLINE, "device_class": "connectivity",
            "json_attributes_topic": self.url.topic(camera, "status"),
            "availability": [self._available(self.node_availability)],
            "entity_category": "diagnostic"}

    def _last_event(self, camera: str) -> tuple[str, str, dict[str, Any]]:
        events = self.url.topic(camera, "events")
        return "sensor", "last_event", {
            "name": "Last event", "state_topic": events,
            "value_template": "{{ value_json.type }}", "json_attributes_topic": events,
            "icon": "mdi:bell-ring"}

    def _fall(self, camera: str) -> tuple[str, str, dict[str, Any]]:
        return "binary_sensor", "fall", {
            "name": "Fall", "state_topic": self.url.topic(camera, "state"),
            "value_template": "{{ value_json.fall }}", "payload_on": "ON",
            "payload_off": "OFF", "device_class": "safety"}

    def _line(self, camera: str, rule: str, way: str) -> tuple[str, str, dict[str, Any]]:
        return "sensor", safe_id(f"line_{rule}_{way}"), {
            "name": f"Line {rule} {way}", "state_topic": self.url.topic(camera, "state"),
            "value_template": f"{{{{ value_json.lines[{_quoted(rule)}][{_quoted(way)}] }}}}",
            "state_class": "total_increasing", "unit_of_measurement": "people",
            "icon": "mdi:transit-transfer"}

    # -- what every config has ---------------------------------------------------------------

    def _topic(self, camera: str, component: str, object_id: str) -> str:
        return f"{self.prefix}/{component}/{self.node_id(camera)}/{object_id}/config"

    def _common(self, camera: str, object_id: str) -> dict[str, Any]:
        node_id = self.node_id(camera)
        return {"unique_id": f"{node_id}_{object_id}", "has_entity_name": True,
                "availability": [self._available(self.node_availability),
                                 self._available(self.url.topic(camera, "availability"))],
                "availability_mode": "all",
                "device": {"identifiers": [node_id], "name": camera,
                           "model": "streampose camera", "manufacturer": "streampose",
                           "sw_version": _version()},
                "origin": dict(self._origin)}

    @staticmethod
    def _available(topic: str) -> dict[str, str]:
        return {"topic": topic, "payload_available": ONLINE,
                "payload_not_available": OFFLINE}
