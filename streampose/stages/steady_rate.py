"""A stage's steady-state output rate: frames between its first and its last one out.

Start-up (opening sessions, the first batch) is left out. The times of both frames are
reported too (``time.monotonic``, one clock for every process), so that the rates of
several render shards add up (:class:`~streampose.observe.summary.Summary`).
"""

from __future__ import annotations

import time
from typing import Any

__all__ = ["SteadyRate"]


class SteadyRate:
    """Counts frames out and remembers when the first and the last one went."""

    def __init__(self) -> None:
        self.frames = 0
        self._first: float | None = None
        self._last: float | None = None

    def tick(self) -> None:
        """One more frame out, now."""
        self.frames += 1
        self._last = time.monotonic()
        if self._first is None:
            self._first = self._last

    def report(self) -> dict[str, Any]:
        """``steady_fps``, ``first_out_at``, ``last_out_at``; empty before two frames."""
        if self._first is None or self._last is None or self.frames < 2:
            return {}
        span = self._last - self._first
        return {"steady_fps": round((self.frames - 1) / span, 3) if span > 0 else None,
                "first_out_at": self._first, "last_out_at": self._last}
