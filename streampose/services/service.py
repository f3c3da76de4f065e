"""A service of the run, and the set of them the run starts, ticks and stops."""

from __future__ import annotations

import contextlib
from collections.abc import Sequence
from enum import IntEnum
from types import TracebackType

__all__ = ["Phase", "Service", "ServiceSet"]


class Phase(IntEnum):
    """When a service ticks: whatever changes what the live view watches (a camera
    assignment) first, then the live view, then everything that reports it."""

    STEER = 0
    OBSERVE = 1
    REPORT = 2


class Service:
    """Base class: ``start`` when the run starts, ``tick(now)`` at every supervisor tick
    (and once more after the run, for the final figures), ``stop`` after the run (also
    when it failed); each does nothing unless overridden."""

    phase = Phase.REPORT

    def start(self) -> None:
        """Begin (serve, connect, subscribe)."""

    def tick(self, now: float) -> None:
        """One tick of the run at ``time.monotonic()`` ``now``."""

    def stop(self) -> None:
        """End; runs whenever ``start`` succeeded."""


class ServiceSet:
    """Services started in order, ticked by phase (in order within one), stopped in
    reverse order; a service that fails to start stops those already started."""

    def __init__(self, services: Sequence[Service]) -> None:
        self.services = tuple(services)
        self._ticks = sorted(self.services, key=lambda service: service.phase)
        self._started = contextlib.ExitStack()

    def start(self) -> None:
        with contextlib.ExitStack() as started:
            for service in self.services:
                service.start()
                started.callback(service.stop)
            self._started = started.pop_all()

    def tick(self, now: float) -> None:
        for service in self._ticks:
            service.tick(now)

    def stop(self) -> None:
        self._started.close()

    def __enter__(self) -> ServiceSet:
        self.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> bool:
        return bool(self._started.__exit__(kind, exc, tb))
