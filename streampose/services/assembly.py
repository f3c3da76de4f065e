"""The services of one run, made from its plan and its shared state.

:class:`RunServices` makes the live view and every service the run's config asks for, in
start order (they tick by phase, :class:`~streampose.services.service.Phase`): the
summary (written when the services stop), the MQTT status (``--mqtt``: a refused login
stops the run there), the live view, the process tree's memory, the metrics server
(``--metrics-port``), the web console (``--serve``), the camera assigner (changing
seats) and the progress callback.
"""

from __future__ import annotations

import contextlib
import signal
import threading
import time
from collections.abc import Callable
from pathlib import Path

from streampose.cameras.assigner import CameraAssigner
from streampose.mqtt.status import StatusPublisher
from streampose.observe.live import LiveView
from streampose.observe.summary import Progress
from streampose.planning.plan import RunPlan
from streampose.planning.run_state import RunState
from streampose.runtime.supervisor import Supervisor
from streampose.services.cameras import CameraService
from streampose.services.console import ConsoleService
from streampose.services.live import LiveService, decoders_ended
from streampose.services.memory import MemoryService
from streampose.services.metrics import MetricsService
from streampose.services.progress import ProgressService
from streampose.services.service import Service, ServiceSet
from streampose.services.status import StatusService
from streampose.services.summary import SummaryService
from streampose.uri import redact

__all__ = ["RunServices"]


class RunServices:
    """``view`` (the live figures every service reads), ``services`` (to start, tick and
    stop as one) and ``summary`` (the one that makes the run's summary)."""

    def __init__(self, *, plan: RunPlan, state: RunState, supervisor: Supervisor,
                 cameras_file: Path | None = None,
                 on_progress: Callable[[Progress], None] | None = None) -> None:
        self.plan, self.state, self._sup = plan, state, supervisor
        self.cameras_file = cameras_file
        self.view = self._view()
        live = LiveService(view=self.view, supervisor=supervisor)
        status = self._status(live)
        cameras = CameraService(assign=lambda stack: self._assign(stack, status))
        memory = MemoryService(supervisor=supervisor, metrics=self.view.metrics)
        self.summary = SummaryService(path=plan.config.outputs.summary,
                                      uris=[s.info.uri for s in plan.sources],
                                      counters=state.counters, latency=state.latency,
                                      view=self.view, cameras=cameras, memory=memory.peaks)
        services: list[Service | None] = [self.summary, status, live, memory,
                                          *self._servers(), cameras,
                                          self._progress(on_progress, live)]
        self.services = ServiceSet([s for s in services if s is not None])

    def _view(self) -> LiveView:
        plan, sup = self.plan, self._sup
        return LiveView(sources=[s.info.uri for s in plan.sources], counters=self.state.counters,
                        latency=self.state.latency, started=time.monotonic(),
                        cameras=plan.cameras, live=[s.live for s in plan.sources],
                        totals=plan.totals, stale_s=plan.config.live.stall_timeout_s,
                        ended=lambda: decoders_ended(sup, plan.streams))

    def _status(self, live: LiveService) -> StatusService | None:
        """The MQTT availability and camera status (``--mqtt``)."""
        cfg = self.plan.config
        if cfg.mqtt.url is None:
            return None
        publisher = StatusPublisher(cfg.mqtt, cameras=self.plan.cameras,
                                    lines=cfg.events.line, fall=cfg.events.fall is not None)
        return StatusService(publisher=publisher, live=live)

    def _servers(self) -> list[Service]:
        """The metrics server (``--metrics-port``) and the web console (``--serve``)."""
        cfg, servers = self.plan.config, list[Service]()
        if cfg.outputs.metrics_port is not None:
            servers.append(MetricsService(view=self.view, port=cfg.outputs.metrics_port,
                                          host=cfg.outputs.metrics_host))
        if self.state.console is not None:
            servers.append(ConsoleService(config=cfg.console, view=self.view,
                                          link=self.state.console))
        return servers

    def _progress(self, callback: Callable[[Progress], None] | None,
                  live: LiveService) -> ProgressService | None:
        if callback is None:
            return None
        return ProgressService(callback=callback, counters=self.state.counters,
                               totals=lambda: list(self.plan.totals), live=live,
                               supervisor=self._sup)

    def _assign(self, stack: contextlib.ExitStack,
                status: StatusService | None) -> CameraAssigner | None:
        """With changing seats: the first cameras assigned, the file watched (and SIGHUP
        caught) while the run goes on; the views follow each seat's camera."""
        seats, view = self.state.seats, self.view
        if not seats.changing:
            return None  # its cameras were assigned once, at the start (SeatTable.for_lineup)
        publisher = None if status is None else status.publisher
        sources = list(view.sources)

        def changed(seat: int, name: str) -> None:
            camera = assigner.cameras.get(name)
            view.cameras[seat] = name
            sources[seat] = redact(camera.url) if camera is not None else ""
            view.sources = list(sources)
            if publisher is not None:
                publisher.rename(seat, name)

        assigner = CameraAssigner(seats, path=self.cameras_file, on_change=changed,
                                  counts=lambda seat: view.counters.snapshot()[seat])
        assigner.start(self.plan.config.cameras)
        if self.cameras_file is not None and \
                threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGHUP, lambda _s, _f: assigner.request())
            stack.callback(signal.signal, signal.SIGHUP, previous)
        return assigner
