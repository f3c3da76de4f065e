"""The progress service: the caller's ``on_progress`` callback at every tick."""

from __future__ import annotations

from collections.abc import Callable

from streampose.observe.counters import StreamCounters
from streampose.observe.live import LiveView
from streampose.observe.summary import Progress
from streampose.runtime.supervisor import Supervisor
from streampose.services.live import LiveService
from streampose.services.service import Service

__all__ = ["ProgressService"]


class ProgressService(Service):
    """Calls ``callback`` with the run's :class:`Progress` at each tick."""

    def __init__(self, *, callback: Callable[[Progress], None], counters: StreamCounters,
                 totals: Callable[[], list[int | None]], live: LiveService,
                 supervisor: Supervisor) -> None:
        self._callback, self._counters, self._totals = callback, counters, totals
        self._live, self._supervisor = live, supervisor

    @property
    def view(self) -> LiveView:
        return self._live.view

    def tick(self, now: float) -> None:
        self._callback(Progress(self._counters.snapshot(), self._totals(),
                                now - self.view.started, self._supervisor.pids,
                                self._live.live))
