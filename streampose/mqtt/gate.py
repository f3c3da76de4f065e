"""Which frames' poses are published: every Nth frame, at most R per second.

Deterministic: it depends only on the order of a camera's frames and their presentation
times, never on the clock, so a file gives the same messages on every run.
"""

from __future__ import annotations

__all__ = ["FrameGate"]

_EPS_S = 1e-6  # presentation times are exact fractions made floats


class FrameGate:
    """One camera's gate: ``admit(pts_s)`` per processed frame, in order.

    ``every``: the 1st, (N+1)th, (2N+1)th... frames pass. ``max_rate``: a frame passes only
    if it is at least ``1 / max_rate`` s after the last one that passed (so no window of
    one second holds more than ``max_rate`` of them); a time going backwards (a camera
    that reconnected and restarted its clock) starts afresh. Both apply when both are set.
    """

    def __init__(self, *, every: int = 1, max_rate: float | None = None) -> None:
        if every < 1:
            raise ValueError(f"every = {every} must be >= 1")
        if max_rate is not None and not max_rate > 0:
            raise ValueError(f"max_rate = {max_rate} must be > 0")
        self.every = every
        self.period_s = None if max_rate is None else 1.0 / max_rate
        self._seen = 0
        self._last: float | None = None

    def admit(self, pts_s: float) -> bool:
        """Whether the next frame (presentation time ``pts_s`` seconds) is published."""
        index = self._seen
        self._seen += 1
        if index % self.every:
            return False
        if self.period_s is not None:
            last = self._last
            if last is not None and last <= pts_s < last + self.period_s - _EPS_S:
                return False
            self._last = pts_s
        return True
