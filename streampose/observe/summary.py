"""The run summary (``--summary``) and the progress snapshots shown while running."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from streampose.observe.counters import (
    StreamCounters,
    items_per_frame,
    regions_per_frame,
)
from streampose.observe.metrics import MetricsSnapshot
from streampose.observe.stats import LatencyWindow
from streampose.runtime.supervisor import RunResult

__all__ = ["Progress", "Summary", "summarise"]


@dataclass
class Progress:
    """What a progress display needs, refreshed while the pipeline runs."""

    streams: list[dict[str, int]]
    totals: list[int | None]
    elapsed_s: float
    pids: dict[str, int] = field(default_factory=dict)
    live: MetricsSnapshot | None = None


@dataclass
class Summary:
    """Per stream counts, per stage load, timing."""

    streams: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    wall_s: float
    signal: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames_out(self) -> int:
        return sum(s["frames_out"] for s in self.streams)

    @property
    def fps(self) -> float:
        """Frames out per second of wall time, start-up (spawning, model loading) included."""
        return self.frames_out / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def steady_fps(self) -> float | None:
        """Frames out per second between the first and the last frame out (over every
        render shard when render is sharded)."""
        renders = [s for s in self.stages if s["stage"].startswith("render")]
        if len(renders) == 1:
            return renders[0].get("steady_fps")
        spans = [(s["first_out_at"], s["last_out_at"]) for s in renders if "first_out_at" in s]
        items = sum(s["items"] for s in renders)
        if not spans or items < 2:
            return None
        span = max(last for _, last in spans) - min(first for first, _ in spans)
        return round((items - 1) / span, 3) if span > 0 else None

    def to_json(self) -> dict[str, Any]:
        return {"streams": self.streams, "stages": self.stages, "wall_s": round(self.wall_s, 3),
                "fps": round(self.fps, 3), "steady_fps": self.steady_fps,
                "signal": self.signal, **self.extra}


def summarise(uris: Sequence[str], result: RunResult, counters: StreamCounters,
              latency: LatencyWindow, cameras: Sequence[str] | None = None) -> Summary:
    """The summary of a finished run: ``uris`` as shown (credentials redacted), each
    stream's camera name (``cameras``) beside its source, its counters and the work items
    per inferred frame (``items_per_frame``) and the motion regions per frame inferred on
    them (``regions_per_frame``)."""
    streams = []
    for i, (uri, counts) in enumerate(zip(uris, counters.snapshot(), strict=True)):
        p50, p95 = latency.percentiles(i) or (None, None)
        named = {"camera": cameras[i]} if cameras is not None else {}
        streams.append({"stream": i, **named, "source": uri, **counts,
                        "items_per_frame": items_per_frame(counts),
                        "regions_per_frame": regions_per_frame(counts),
                        "latency_p50_s": _round(p50), "latency_p95_s": _round(p95)})
    stages = [{"stage": r.stage, "pid": r.pid, "items": r.items,
               "busy": round(r.busy, 4), "busy_s": round(r.busy_s, 3),
               "cpu_s": round(r.cpu_s, 3), "wall_s": round(r.wall_s, 3), **r.extra}
              for r in sorted(result.reports, key=lambda r: r.stage)]
    return Summary(streams, stages, result.wall_s, result.signal)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)
