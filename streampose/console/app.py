"""The console wired to a run: its state from the live view, its server on the stack."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Callable
from typing import Any

from streampose.config.sections import ConsoleConfig
from streampose.console.auth import Auth
from streampose.console.events import EventHub
from streampose.console.gate import Limits
from streampose.console.link import ConsoleLink
from streampose.console.origin import parse_origins
from streampose.console.preview import PreviewHub
from streampose.console.server import ConsoleServer, ConsoleState
from streampose.observe.live import LiveView

__all__ = ["limits_of", "start_console", "status_json"]

log = logging.getLogger(__name__)


def status_json(view: LiveView, events: EventHub) -> dict[str, Any]:
    """``/api/status``: uptime, one entry per stream (camera names and redacted sources
    only), the stages, and the events the console dropped."""
    snap = view.latest
    dropped = events.dropped()
    streams = [{**s, "events_dropped": dropped[s["stream"]]} for s in snap.streams]
    return {"uptime_s": snap.uptime_s, "cameras": view.cameras, "streams": streams,
            "stages": snap.stages}


def limits_of(config: ConsoleConfig) -> Limits:
    """The connection limits of the ``[console]`` section."""
    return Limits(header_timeout_s=config.header_timeout_s,
                  idle_timeout_s=config.idle_timeout_s,
                  max_connections=config.max_connections,
                  max_connections_per_address=config.max_connections_per_address,
                  max_streams=config.max_streams,
                  max_streams_per_address=config.max_streams_per_address,
                  fd_reserve=config.fd_reserve)


def start_console(stack: contextlib.ExitStack, config: ConsoleConfig, view: LiveView,
                  link: ConsoleLink) -> Callable[[], int]:
    """Serve the console until ``stack`` closes; returns the events pump for the tick."""
    events, previews = EventHub(link), PreviewHub(link)
    view.metrics.event_counts = events.counts
    view.metrics.event_drops = events.dropped
    state = ConsoleState(status=lambda: status_json(view, events),
                         metrics=view.metrics.exposition, previews=previews, events=events,
                         fps=config.preview_fps, cameras=list(view.cameras))
    host, port = config.address
    stack.enter_context(ConsoleServer(state, host=host, port=port,
                                      auth=Auth.parse(config.serve_auth),
                                      limits=limits_of(config),
                                      origins=parse_origins(config.serve_origin)))
    stack.callback(events.pump)  # the last events, for the metrics
    return events.pump
