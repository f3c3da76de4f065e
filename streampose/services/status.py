"""The MQTT status service (``--mqtt``): availability and each camera's state."""

from __future__ import annotations

import contextlib

from streampose.mqtt.status import StatusPublisher
from streampose.services.live import LiveService
from streampose.services.service import Service

__all__ = ["StatusService"]


class StatusService(Service):
    """Connects ``publisher`` when started (a refused login stops the run there),
    publishes each camera's state from the live view at every tick, and says
    ``offline`` and disconnects when stopped."""

    def __init__(self, *, publisher: StatusPublisher, live: LiveService) -> None:
        self.publisher, self._live = publisher, live
        self._stack = contextlib.ExitStack()

    def start(self) -> None:
        self._stack.enter_context(self.publisher)

    def tick(self, now: float) -> None:
        live = self._live.live
        assert live is not None, "the live view ticks first"
        self.publisher.update(now, live.streams)  # the states the live view computed

    def stop(self) -> None:
        self._stack.close()

