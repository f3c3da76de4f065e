"""Live figures for the status display and the metrics endpoint (parent process)."""

from __future__ import annotations

from typing import Any

from streampose.observe.counters import StreamCounters
from streampose.observe.metrics import MetricsSnapshot
from streampose.observe.stats import LatencyWindow, RateMeter, StageStats, counter_keys
from streampose.uri import redact


class LiveView:
    """Turns the shared counters into per-stream rates/latency and per-stage busy ratios.

    ``update(now)`` runs on the supervisor's tick; ``latest`` is read by the metrics
    server's thread (a reference swap, so no lock is needed).
    """

    def __init__(self, *, sources: list[str], counters: StreamCounters,
                 latency: LatencyWindow, started: float) -> None:
        self.sources = [redact(s) for s in sources]
        self.counters, self.latency, self.started = counters, latency, started
        self.meter = RateMeter()
        self.latest = MetricsSnapshot(streams=[], stages=[], uptime_s=0.0)

    def update(self, now: float, stage_stats: StageStats | None) -> MetricsSnapshot:
        counts = self.counters.snapshot()
        busy = stage_stats.snapshot() if stage_stats is not None else {}
        values = counter_keys(counts) | {f"busy/{n}": b for n, (_, b) in busy.items()}
        self.meter.update(now, values)
        streams = [self._stream(i, c) for i, c in enumerate(counts)]
        stages = [{"stage": n, "items": items, "busy_s": b,
                   "busy_ratio": min(1.0, self.meter.rate(f"busy/{n}"))}
                  for n, (items, b) in busy.items()]
        self.latest = MetricsSnapshot(streams=streams, stages=stages,
                                      uptime_s=now - self.started)
        return self.latest

    def _stream(self, i: int, counts: dict[str, int]) -> dict[str, Any]:
        p50, p95 = self.latency.percentiles(i) or (None, None)
        return {"stream": i, "source": self.sources[i], **counts,
                "fps_in": self.meter.rate(f"{i}/frames_in"),
                "fps_out": self.meter.rate(f"{i}/frames_out"),
                "latency_p50": p50, "latency_p95": p95,
                "latency_count": self.latency.count(i), "latency_sum": self.latency.total(i)}
