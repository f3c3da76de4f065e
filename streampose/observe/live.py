"""Live figures for the status display, the metrics and the console (parent process)."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from streampose.observe.camera_state import STALE_S, CameraStates
from streampose.observe.counters import (
    StreamCounters,
    items_per_frame,
    regions_per_frame,
)
from streampose.observe.metrics import MetricsSnapshot, RunMetrics
from streampose.observe.stats import LatencyWindow, RateMeter, StageStats, counter_keys
from streampose.uri import redact

__all__ = ["STALE_S", "LiveView"]


class LiveView:
    """Turns the shared counters into per-stream rates/latency/state and per-stage busy
    ratios, and feeds the metrics' histograms.

    ``update(now)`` runs on the supervisor's tick; ``latest`` is read by the servers'
    threads (a reference swap, so no lock is needed). ``cameras``: each stream's run
    name; ``live``: which streams are live sources; ``totals``: frames each stream will
    give, where known; ``stale_s``: the staleness rule of the camera states
    (:mod:`streampose.observe.camera_state`); ``ended``: whether each stream's decoder has
    ended (read on each update).

    Each stream's ``state`` is computed here, once per tick, and every reader of the
    snapshot (terminal, console, Prometheus, MQTT status, a fleet node) shows that one.
    """

    def __init__(self, *, sources: list[str], counters: StreamCounters,
                 latency: LatencyWindow, started: float,
                 cameras: Sequence[str] | None = None, live: Sequence[bool] | None = None,
                 totals: Sequence[int | None] | None = None, stale_s: float = STALE_S,
                 ended: Callable[[], Sequence[bool]] | None = None) -> None:
        n = len(sources)
        self.sources = [redact(s) for s in sources]
        self.cameras = list(cameras) if cameras is not None else [f"stream{i}" for i in range(n)]
        self.live = list(live) if live is not None else [False] * n
        self.totals = list(totals) if totals is not None else [None] * n
        self.counters, self.latency, self.started = counters, latency, started
        self.states = CameraStates(live=self.live, totals=self.totals, stale_s=stale_s)
        self._carried = list(self.cameras)  # the camera each state is of
        self._ended = ended
        self.meter = RateMeter()
        self.latest = MetricsSnapshot(streams=[], stages=[], uptime_s=0.0)
        self.metrics = RunMetrics(lambda: self.latest)
        self._seen = [0] * n                      # latency samples fed to the histogram
        self._busy: dict[str, tuple[int, float]] = {}

    def update(self, now: float, stage_stats: StageStats | None) -> MetricsSnapshot:
        counts = self.counters.snapshot()
        busy = stage_stats.snapshot() if stage_stats is not None else {}
        values = counter_keys(counts) | {f"busy/{n}": b for n, (_, b) in busy.items()}
        self.meter.update(now, values)
        for i, name in enumerate(self.cameras):
            if name != self._carried[i]:  # a seat given another camera
                self._carried[i] = name
                self.states.restart(i)
        states = self.states.update(now, counts, self._ended() if self._ended else None)
        streams = [self._stream(i, c, state)
                   for i, (c, state) in enumerate(zip(counts, states, strict=True))]
        stages = [{"stage": n, "items": items, "busy_s": b,
                   "busy_ratio": min(1.0, self.meter.rate(f"busy/{n}"))}
                  for n, (items, b) in busy.items()]
        self._observe(busy)
        self.latest = MetricsSnapshot(streams=streams, stages=stages,
                                      uptime_s=now - self.started)
        return self.latest

    def _stream(self, i: int, counts: dict[str, int], state: str) -> dict[str, Any]:
        p50, p95 = self.latency.percentiles(i) or (None, None)
        return {"stream": i, "camera": self.cameras[i], "source": self.sources[i], **counts,
                "fps_in": self.meter.rate(f"{i}/frames_in"),
                "fps_out": self.meter.rate(f"{i}/frames_out"),
                "items_per_frame": items_per_frame(counts),
                "regions_per_frame": regions_per_frame(counts),
                "latency_p50": p50, "latency_p95": p95,
                "latency_count": self.latency.count(i), "latency_sum": self.latency.total(i),
                "state": state, "total": self.totals[i]}

    def _observe(self, busy: dict[str, tuple[int, float]]) -> None:
        for i in range(len(self._seen)):
            samples, self._seen[i] = self.latency.since(i, self._seen[i])
            self.metrics.observe_latency(i, samples)
        for name, (items, busy_s) in busy.items():
            items0, busy0 = self._busy.get(name, (0, 0.0))
            if items > items0:
                self.metrics.observe_stage(name, (busy_s - busy0) / (items - items0))
            self._busy[name] = (items, busy_s)
