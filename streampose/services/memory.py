"""The memory service: the run's process tree sampled at every tick, its peaks kept for
the summary, the final line and the metrics (:mod:`streampose.observe.memory`)."""

from __future__ import annotations

from streampose.observe.memory import MemoryPeaks
from streampose.observe.metrics import RunMetrics
from streampose.runtime.supervisor import Supervisor
from streampose.services.service import Phase, Service

__all__ = ["MemoryService"]


class MemoryService(Service):
    """Samples this process and every process below it at each tick (the stages named
    by the supervisor's pids); ``metrics`` shows each one's memory and peaks."""

    phase = Phase.OBSERVE

    def __init__(self, *, supervisor: Supervisor, metrics: RunMetrics,
                 peaks: MemoryPeaks | None = None) -> None:
        self._supervisor = supervisor
        self.peaks = MemoryPeaks() if peaks is None else peaks
        metrics.memory = self.peaks.rows

    def start(self) -> None:
        self.peaks.sample()

    def tick(self, now: float) -> None:
        names = {pid: name for name, pid in self._supervisor.pids.items() if pid is not None}
        self.peaks.sample(names)
