"""The MQTT status service (``--mqtt``): availability and each camera's state."""

from __future__ import annotations

import contextlib

from streampose.mqtt.status import StatusPublisher
from streampose.runtime.supervisor import Supervisor
from streampose.services.live import LiveService
from streampose.services.service import Service

__all__ = ["StatusService", "decoders_ended"]


class StatusService(Service):
    """Connects ``publisher`` when started (a refused login stops the run there),
    publishes each camera's state from the live view at every tick, and says
    ``offline`` and disconnects when stopped."""

    def __init__(self, *, publisher: StatusPublisher, live: LiveService,
                 supervisor: Supervisor, streams: int) -> None:
        self.publisher, self._live = publisher, live
        self._supervisor, self._streams = supervisor, streams
        self._stack = contextlib.ExitStack()

    def start(self) -> None:
        self._stack.enter_context(self.publisher)

    def tick(self, now: float) -> None:
        live = self._live.live
        assert live is not None, "the live view ticks first"
        self.publisher.update(now, live.streams, decoders_ended(self._supervisor, self._streams))

    def stop(self) -> None:
        self._stack.close()


def decoders_ended(sup: Supervisor, streams: int) -> list[bool]:
    """Whether each stream's decode stage (``decode<i>``) has ended."""
    exited = sup.exited()
    return [f"decode{i}" in exited for i in range(streams)]
