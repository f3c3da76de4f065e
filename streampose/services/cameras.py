"""The camera service: with changing seats, the cameras file watched (and SIGHUP
caught) while the run goes on (:mod:`streampose.cameras.assigner`)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable

from streampose.cameras.assigner import CameraAssigner
from streampose.services.service import Phase, Service

__all__ = ["CameraService"]


class CameraService(Service):
    """Starts the camera assigner that ``assign(stack)`` makes (None: a fixed run, its
    seats assigned at the start; what it sets up is undone when ``stack`` closes) and
    ticks it before the live view, so a new assignment shows in the same tick."""

    phase = Phase.STEER

    def __init__(self, *, assign: Callable[[contextlib.ExitStack], CameraAssigner | None]
                 ) -> None:
        self._assign = assign
        self._stack = contextlib.ExitStack()
        self.assigner: CameraAssigner | None = None

    def start(self) -> None:
        self.assigner = self._assign(self._stack)

    def tick(self, now: float) -> None:
        if self.assigner is not None:
            self.assigner.tick(now)

    def stop(self) -> None:
        self._stack.close()
