"""The Prometheus metrics service (``--metrics-port``)."""

from __future__ import annotations

import contextlib
import logging

from streampose.observe.live import LiveView
from streampose.observe.metrics import MetricsServer
from streampose.services.service import Service

__all__ = ["MetricsService"]

log = logging.getLogger(__name__)


class MetricsService(Service):
    """Serves the live view's metrics registry while the run goes on."""

    def __init__(self, *, view: LiveView, port: int, host: str) -> None:
        self._view, self._port, self._host = view, port, host
        self._stack = contextlib.ExitStack()

    def start(self) -> None:
        server = self._stack.enter_context(MetricsServer(port=self._port, host=self._host,
                                                         registry=self._view.metrics.registry))
        log.info("Prometheus metrics at %s", server.url)

    def stop(self) -> None:
        self._stack.close()
