"""The controller's own MQTT messages: the fleet's availability, a camera ``moved``.

- ``<prefix>/availability``: the fleet controller's (``online`` while it runs, ``offline``
  at ``fleet down`` and, as its connection's last will, when it dies). The node
  pipelines each say their own on ``<prefix>/node/<node>/availability``
  (:mod:`streampose.mqtt.status`): a lost node's will never touches another's.
- a lost node's camera placed on another node: its status is
  :func:`streampose.mqtt.status.status_payload`'s (the one every node pipeline sends)
  with ``state`` ``moved``, ``node`` the new owner and ``from`` the node it was lost with,
  on ``<prefix>/<camera>/status``, and its ``<prefix>/<camera>/availability`` is
  ``offline`` (the lost pipeline could not say so). The new owner's pipeline then says
  ``starting``, then ``online``.

All retained, QoS 1. MQTT never stops the fleet: a broker that cannot be reached is a
warning.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from streampose.observe.camera_state import MOVED, OFFLINE, ONLINE

__all__ = ["FleetStatus"]

log = logging.getLogger(__name__)


class FleetStatus:
    """Publishes the fleet's availability and ``moved`` statuses when ``mqtt`` (the
    fleet's ``[mqtt]`` settings) has a ``url``; does nothing otherwise."""

    def __init__(self, *, fleet_id: str, mqtt: Mapping[str, Any] | None) -> None:
        self.fleet_id, self.mqtt = fleet_id, dict(mqtt or {})
        self._publisher: Any = None

    def connect(self) -> None:
        """Connect now (the controller's loop starts), so the first move is not late."""
        if self.mqtt.get("url"):
            try:
                self._connected()
            except Exception as exc:  # MQTT never stops the fleet
                log.warning("fleet: no MQTT: %s", exc)

    def moved(self, camera: str, node: str, source: str) -> None:
        """Say that ``camera`` moved from node ``source`` to node ``node``."""
        if not self.mqtt.get("url"):
            return
        from streampose.mqtt.status import status_payload

        try:
            publisher = self._connected()
            payload = status_payload(camera, MOVED, node, {}, **{"from": source})
            publisher.publish(publisher.url.topic(camera, "status"), payload, qos=1,
                              retain=True)
            publisher.publish(publisher.url.topic(camera, "availability"), OFFLINE,
                              qos=1, retain=True)
        except Exception as exc:  # MQTT never stops the fleet
            log.warning("fleet: cannot say %s moved over MQTT: %s", camera, exc)

    def close(self) -> None:
        """Say the fleet is ``offline`` (``fleet down``) and disconnect."""
        publisher, self._publisher = self._publisher, None
        if publisher is not None:
            publisher.publish_retained(publisher.url.topic("availability"), OFFLINE)
            publisher.wait_retained(2.0)
            publisher.stop(flush_s=2.0)

    def _connected(self) -> Any:
        if self._publisher is None:
            from streampose.mqtt.client import Publisher
            from streampose.mqtt.url import parse_broker_url

            ca = self.mqtt.get("ca_file")
            url = parse_broker_url(self.mqtt["url"])
            availability = url.topic("availability")
            publisher = Publisher(url, client_id=f"streampose-fleet-{self.fleet_id[:8]}-"
                                  f"{os.getpid()}",
                                  ca_file=Path(ca) if ca else None, what="fleet MQTT",
                                  will=(availability, OFFLINE))
            publisher.start(float(self.mqtt.get("connect_timeout_s", 5.0)), warn=True)
            publisher.publish_retained(availability, ONLINE)
            self._publisher = publisher
        return self._publisher
