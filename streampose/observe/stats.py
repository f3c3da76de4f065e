"""Live statistics shared between stage processes and the supervising parent.

``StageStats`` and ``LatencyWindow`` live in shared memory (``ctx.Array(..., lock=False)``)
and are handed to stage processes as part of their pickled arguments at spawn time. Every
field has exactly one writer process; the parent reads without locks. Aligned 8-byte
loads and stores do not tear, so a reader sees either the old or the new value of a field
(two fields may be one update apart, which a live display tolerates).

``RateMeter`` stays in the parent: it turns successive counter snapshots into rates.
"""

from __future__ import annotations

import math
import threading
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np


class StageStats:
    """Items done and busy seconds per stage, each stage updating its own entry in place."""

    def __init__(self, *, stages: Sequence[str], ctx: Any) -> None:
        if len(set(stages)) != len(stages):
            raise ValueError(f"stage names must be unique: {list(stages)}")
        self.stages = list(stages)
        self._index = {name: i for i, name in enumerate(self.stages)}
        self._items = ctx.Array("q", max(len(self.stages), 1), lock=False)
        self._busy = ctx.Array("d", max(len(self.stages), 1), lock=False)

    def add(self, stage: str, *, items: int = 0, busy_s: float = 0.0) -> None:
        """Add to ``stage``'s totals; only that stage's process may call this."""
        i = self._slot(stage)
        if items:
            self._items[i] += items
        if busy_s:
            self._busy[i] += busy_s

    def snapshot(self) -> dict[str, tuple[int, float]]:
        """``{stage: (items, busy_s)}`` for every stage, in construction order."""
        return {name: (int(self._items[i]), float(self._busy[i]))
                for name, i in self._index.items()}

    def _slot(self, stage: str) -> int:
        try:
            return self._index[stage]
        except KeyError:
            raise KeyError(f"unknown stage {stage!r}; known: {self.stages}") from None


class LatencyWindow:
    """The last ``size`` latencies (seconds) per stream in a shared ring, plus running totals.

    One writer per stream (the render process). Per stream it keeps the samples, the
    number of samples ever recorded (its modulo ``size`` is the next write position) and
    their sum, so a reader can expose both window percentiles and cumulative count/sum.
    """

    def __init__(self, *, streams: int, size: int = 512, ctx: Any) -> None:
        if streams < 1 or size < 1:
            raise ValueError(f"streams and size must be >= 1, got {streams} and {size}")
        self.streams, self.size = streams, size
        self._samples = ctx.Array("d", streams * size, lock=False)
        self._count = ctx.Array("q", streams, lock=False)
        self._sum = ctx.Array("d", streams, lock=False)

    def record(self, stream: int, seconds: float) -> None:
        """Store one sample; non-finite values are ignored."""
        if not math.isfinite(seconds):
            return
        self._check(stream)
        n = self._count[stream]
        self._samples[stream * self.size + n % self.size] = seconds
        self._sum[stream] += seconds
        self._count[stream] = n + 1  # last: a reader never counts a slot not yet written

    def count(self, stream: int) -> int:
        """How many samples ``stream`` has recorded in all (not only those in the window)."""
        self._check(stream)
        return int(self._count[stream])

    def total(self, stream: int) -> float:
        """Sum of every sample ``stream`` has recorded, in seconds."""
        self._check(stream)
        return float(self._sum[stream])

    def values(self, stream: int) -> np.ndarray:
        """A copy of the samples now in ``stream``'s window (unordered)."""
        n = min(self.count(stream), self.size)
        start = stream * self.size
        shared = np.frombuffer(self._samples, dtype=np.float64)
        window: np.ndarray = shared[start:start + n].copy()
        return window

    def since(self, stream: int, seen: int) -> tuple[np.ndarray, int]:
        """The samples recorded after the first ``seen`` ones (at most the window's
        ``size`` newest; older ones are gone), oldest first, and the count now."""
        n = self.count(stream)
        new = min(max(0, n - seen), self.size)
        shared = np.frombuffer(self._samples, dtype=np.float64)
        base = stream * self.size
        positions = [(i % self.size) + base for i in range(n - new, n)]
        return shared[positions].copy(), n

    def percentiles(self, stream: int, qs: Iterable[float] = (50, 95)) -> tuple[float, ...] | None:
        """Percentiles (0-100) of the window, or None when no sample has been recorded."""
        window = self.values(stream)
        if window.size == 0:
            return None
        return tuple(float(v) for v in np.percentile(window, list(qs)))

    def _check(self, stream: int) -> None:
        if not 0 <= stream < self.streams:
            raise IndexError(f"stream {stream} out of range (0..{self.streams - 1})")


class RateMeter:
    """Per-key rates (units per second) over a sliding window of cumulative values.

    Feed it snapshots of monotonically growing values (frame counters, busy seconds);
    ``rate`` is (newest - oldest) / (their time span), with the oldest sample the last
    one at or before ``now - window_s``. A value that goes down restarts that key.
    Parent side only; safe to read from another thread (e.g. a metrics server).
    """

    def __init__(self, *, window_s: float = 3.0) -> None:
        if window_s <= 0:
            raise ValueError(f"window_s must be > 0, got {window_s}")
        self.window_s = window_s
        self._history: dict[str, deque[tuple[float, float]]] = {}
        self._lock = threading.Lock()

    def update(self, now: float, values: Mapping[str, float]) -> None:
        """Add one snapshot taken at ``now`` (a monotonic clock, seconds)."""
        with self._lock:
            for key, value in values.items():
                self._add(self._history.setdefault(key, deque()), now, float(value))

    def rate(self, key: str) -> float:
        """Units per second over the window; 0.0 until the key has two samples."""
        with self._lock:
            history = self._history.get(key)
            if not history or len(history) < 2:
                return 0.0
            (t0, v0), (t1, v1) = history[0], history[-1]
        return (v1 - v0) / (t1 - t0)

    def rates(self) -> dict[str, float]:
        """Every key's rate."""
        with self._lock:
            keys = list(self._history)
        return {key: self.rate(key) for key in keys}

    def _add(self, history: deque[tuple[float, float]], now: float, value: float) -> None:
        if history:
            last_t, last_v = history[-1]
            if now <= last_t:
                return  # same tick twice, or a clock that went back: keep what we have
            if value < last_v:
                history.clear()  # the counter was reset
        history.append((now, value))
        horizon = now - self.window_s
        while len(history) > 1 and history[1][0] <= horizon:
            history.popleft()


def counter_keys(streams: Sequence[Mapping[str, int]]) -> dict[str, int]:
    """Flatten ``StreamCounters.snapshot()`` for a RateMeter: ``{"0/frames_in": n, ...}``."""
    return {f"{i}/{name}": value for i, counts in enumerate(streams)
            for name, value in counts.items()}
