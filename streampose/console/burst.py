"""Log lines that any client could trigger, at most one per kind per burst.

The first occurrence of a kind is logged; the next ones within ``quiet_s`` are counted,
and when that window has passed one line says how many there were. A flood of refused
connections or bad requests therefore adds a few lines, never one per call (the counts
are also in ``/metrics``).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

__all__ = ["BurstLog"]

QUIET_S = 10.0


@dataclass
class _Burst:
    level: int
    what: str
    until: float
    more: int = 0


class BurstLog:
    """``log(kind, level, msg, *args)``: logged if no ``kind`` was logged in the last
    ``quiet_s`` seconds, else counted; :meth:`flush` reports the counts of ended windows."""

    def __init__(self, logger: logging.Logger, *, quiet_s: float = QUIET_S,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self._logger, self.quiet_s, self._clock = logger, quiet_s, clock
        self._bursts: dict[str, _Burst] = {}

    def log(self, kind: str, level: int, msg: str, *args: Any,
            exc_info: BaseException | None = None) -> None:
        now = self._clock()
        burst = self._bursts.get(kind)
        if burst is not None and now < burst.until:
            burst.more += 1
            return
        if burst is not None:
            self._report(burst)
        what = msg % args if args else msg
        self._logger.log(level, "%s (more like it within %.0f s are counted, not logged)",
                         what, self.quiet_s, exc_info=exc_info)
        self._bursts[kind] = _Burst(level, what[:200], now + self.quiet_s)

    def flush(self, *, everything: bool = False) -> None:
        """Report the windows that have ended (all of them with ``everything``)."""
        now = self._clock()
        for kind, burst in list(self._bursts.items()):
            if everything or now >= burst.until:
                self._report(burst)
                del self._bursts[kind]

    def _report(self, burst: _Burst) -> None:
        if burst.more:
            self._logger.log(burst.level, "%d more in %.0f s like: %s", burst.more,
                             self.quiet_s, burst.what)
