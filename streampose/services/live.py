"""The live view's service: its figures updated at every tick."""

from __future__ import annotations

from streampose.observe.live import LiveView
from streampose.observe.metrics import MetricsSnapshot
from streampose.runtime.supervisor import Supervisor
from streampose.services.service import Phase, Service

__all__ = ["LiveService", "decoders_ended"]


class LiveService(Service):
    """Updates ``view`` from the counters and the stages' load at each tick; ``live`` is
    the latest snapshot, for the services that report it."""

    phase = Phase.OBSERVE

    def __init__(self, *, view: LiveView, supervisor: Supervisor) -> None:
        self.view, self._supervisor = view, supervisor
        self.live: MetricsSnapshot | None = None

    def tick(self, now: float) -> None:
        self.live = self.view.update(now, self._supervisor.stage_stats)


def decoders_ended(sup: Supervisor, streams: int) -> list[bool]:
    """Whether each stream's decode stage (``decode<i>``) has ended."""
    exited = sup.exited()
    return [f"decode{i}" in exited for i in range(streams)]
