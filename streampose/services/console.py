"""The web console service (``--serve``): its server, and the events pump at each tick."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from streampose.config.sections import ConsoleConfig
from streampose.console.link import ConsoleLink
from streampose.observe.live import LiveView
from streampose.services.service import Service

__all__ = ["ConsoleService"]


class ConsoleService(Service):
    """Serves the console over ``view`` and ``link`` (the render processes' previews and
    events); each tick takes the events render sent."""

    def __init__(self, *, config: ConsoleConfig, view: LiveView, link: ConsoleLink) -> None:
        self._config, self._view, self._link = config, view, link
        self._stack = contextlib.ExitStack()
        self._pump: Callable[[], object] = lambda: None

    def start(self) -> None:
        from streampose.console.app import start_console

        self._pump = start_console(self._stack, self._config, self._view, self._link)

    def tick(self, now: float) -> None:
        self._pump()

    def stop(self) -> None:
        self._stack.close()
