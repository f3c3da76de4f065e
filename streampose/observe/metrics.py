"""Prometheus metrics through ``prometheus_client``: one registry per run.

The per-stream and per-stage figures live in shared memory and are turned into a
:class:`MetricsSnapshot` on the parent's progress tick (:mod:`streampose.observe.live`);
a custom collector exposes the latest snapshot (counters from the shared counters, one
family per name in :data:`streampose.observe.counters.FIELDS`; gauges; the latency
summary; each stream's state, one sample per state). Two histograms are fed on the same
tick: every frame's capture-to-output latency, and each stage's mean work time per
item. Events by type come from the console when it runs. :class:`MetricsServer` serves
the registry on ``--metrics-port`` with the library's own HTTP server; the console
serves the same registry at ``/metrics``.
"""

from __future__ import annotations

import errno
import logging
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from prometheus_client import CollectorRegistry, Histogram, generate_latest, start_http_server
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from streampose.errors import OutputError
from streampose.lifecycle import Resource
from streampose.observe.camera_state import STATES
from streampose.observe.counters import FIELDS

__all__ = ["CONTENT_TYPE", "MetricsServer", "MetricsSnapshot", "RunMetrics"]

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUANTILES = (("0.5", "latency_p50"), ("0.95", "latency_p95"))
LATENCY_BUCKETS = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
STAGE_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0)

# Counter names of the shared counters that predate this module; any other field ``f`` is
# exposed as ``streampose_<f>_total``.
_COUNTER_NAMES = {"frames_in": "streampose_frames_in", "frames_out": "streampose_frames_out",
                  "dropped": "streampose_dropped_frames",
                  "reconnects": "streampose_reconnects"}
_COUNTER_HELP = {"frames_in": "Frames decoded from the source.",
                 "frames_out": "Frames rendered and written.",
                 "dropped": "Frames dropped (ring full).",
                 "reconnects": "Reconnections to the source.",
                 "decode_errors": "Damaged packets or frames, or unreadable images, skipped.",
                 "frames_inferred": "Frames the network ran on (one or more work items).",
                 "work_items": "Work items the network ran on (whole frames, tiles, "
                               "regions); per inferred frame: divide by frames_inferred.",
                 "frames_skipped": "Frames passed through without inference (still or "
                                   "interval frames).",
                 "frames_regions": "Frames the network ran on motion regions only "
                                   "(--motion).",
                 "regions": "Work items of the frames inferred on motion regions; per such "
                            "frame: divide by frames_regions.",
                 "frames_still": "Frames skipped as still by motion regions (among "
                                 "frames_skipped)."}


@dataclass(kw_only=True)
class MetricsSnapshot:
    """What the metrics (and the status display, and the console) show.

    ``streams``: one dict per stream with ``stream`` (index), ``camera`` (its run name),
    ``source`` (credentials redacted), every counter of ``FIELDS``, ``fps_in``,
    ``fps_out``, ``items_per_frame`` (work items per inferred frame, or None),
    ``regions_per_frame`` (per frame inferred on motion regions, or None),
    ``latency_p50``/``latency_p95`` (seconds or None), ``latency_count``/
    ``latency_sum`` (all samples ever), ``state`` and ``total`` (frames expected, or
    None). ``stages``: one dict per stage with ``stage`` (name), ``items``,
    ``busy_ratio`` and ``busy_s`` (cumulative busy seconds).
    """

    streams: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    uptime_s: float = 0.0


def counter_name(name: str) -> str:
    """The metric family of shared counter ``name`` (without the ``_total`` suffix)."""
    return _COUNTER_NAMES.get(name, f"streampose_{name}")


class _SnapshotCollector(Collector):
    def __init__(self, snapshot: Callable[[], MetricsSnapshot], metrics: RunMetrics) -> None:
        self._snapshot, self._metrics = snapshot, metrics

    def collect(self) -> Iterator[Metric]:
        snap = self._snapshot()
        if snap.streams:
            yield _stream_info(snap.streams)
            yield from _stream_counters(snap.streams)
            yield from _gauges(snap.streams, "stream", (
                ("streampose_fps_in", "fps_in", "Frames in per second, recent window."),
                ("streampose_fps_out", "fps_out", "Frames out per second, recent window.")))
            yield _latency_summary(snap.streams)
            yield _stream_state(snap.streams)
        yield from _stage_families(snap.stages)
        yield GaugeMetricFamily("streampose_uptime_seconds", "Seconds since the run started.",
                                value=snap.uptime_s)
        yield from self._metrics.event_families()
        yield from self._metrics.memory_families()


def _stream_info(streams: Sequence[Mapping[str, Any]]) -> Metric:
    info = GaugeMetricFamily("streampose_stream_info", "Source of each stream (value 1).",
                             labels=["stream", "camera", "source"])
    for s in streams:
        info.add_metric([str(s["stream"]), str(s.get("camera", "")), str(s.get("source", ""))],
                        1)
    return info


def _stream_state(streams: Sequence[Mapping[str, Any]]) -> Metric:
    """``streampose_stream_state{stream,state}``: 1 for the stream's state on this tick,
    0 for the others of :data:`~streampose.observe.camera_state.STATES`."""
    family = GaugeMetricFamily("streampose_stream_state", "State of each stream's camera "
                               "(1 for the current one).", labels=["stream", "state"])
    for s in streams:
        for state in STATES:
            family.add_metric([str(s["stream"]), state], int(s.get("state") == state))
    return family


def _stream_counters(streams: Sequence[Mapping[str, Any]]) -> Iterator[Metric]:
    for name in FIELDS:
        family = CounterMetricFamily(counter_name(name),
                                     _COUNTER_HELP.get(name, f"Per-stream counter {name}."),
                                     labels=["stream"])
        for s in streams:
            family.add_metric([str(s["stream"])], s.get(name, 0))
        yield family


def _gauges(rows: Sequence[Mapping[str, Any]], label: str,
            families: Iterable[tuple[str, str, str]]) -> Iterator[Metric]:
    for name, key, help_text in families:
        family = GaugeMetricFamily(name, help_text, labels=[label])
        for row in rows:
            if row.get(key) is not None:
                family.add_metric([str(row[label])], row[key])
        yield family


def _latency_summary(streams: Sequence[Mapping[str, Any]]) -> Metric:
    name = "streampose_latency_seconds"
    family = Metric(name, "Capture-to-output latency; quantiles over the last frames, sum "
                    "and count over the whole run.", "summary")
    for s in streams:
        stream = str(s["stream"])
        for q, key in QUANTILES:
            if s.get(key) is not None:
                family.add_sample(name, {"stream": stream, "quantile": q}, s[key])
        family.add_sample(f"{name}_sum", {"stream": stream}, s.get("latency_sum", 0.0))
        family.add_sample(f"{name}_count", {"stream": stream}, s.get("latency_count", 0))
    return family


def _stage_families(stages: Sequence[Mapping[str, Any]]) -> Iterator[Metric]:
    items = CounterMetricFamily("streampose_stage_items", "Items processed by the stage.",
                                labels=["stage"])
    busy = CounterMetricFamily("streampose_stage_busy_seconds",
                               "Seconds the stage spent working (not waiting).",
                               labels=["stage"])
    for s in stages:
        items.add_metric([str(s["stage"])], s.get("items", 0))
        busy.add_metric([str(s["stage"])], s.get("busy_s", 0.0))
    yield items
    yield busy
    yield from _gauges(stages, "stage", (("streampose_stage_busy_ratio", "busy_ratio",
                                          "Busy seconds per wall second over the recent "
                                          "window."),))


EventCounts = Callable[[], Mapping[tuple[int, str, str], int]]
_MEMORY = (("rss", "Resident memory now, per process of the run's tree and summed (tree)."),
           ("pss", "Proportional set size now (shared pages divided among their "
                   "processes), per process and summed (tree)."),
           ("peak_rss", "Peak resident memory (the kernel's VmHWM where known), per process; "
                        "the tree's: the peak of the sampled sums."),
           ("peak_pss", "Peak proportional set size, sampled, per process and of the tree's "
                        "sum."))


class RunMetrics:
    """The run's registry: the snapshot's families, the latency histograms and, when the
    console runs, the events by type (``event_counts``) and the events it dropped."""

    def __init__(self, snapshot: Callable[[], MetricsSnapshot]) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.registry.register(_SnapshotCollector(snapshot, self))
        self.frame_latency = Histogram(
            "streampose_frame_latency_seconds", "Capture-to-output latency of every frame.",
            ["stream"], registry=self.registry, buckets=LATENCY_BUCKETS)
        self.stage_item = Histogram(
            "streampose_stage_item_seconds", "Mean work seconds per item of each stage, one "
            "observation per stage per progress tick (stages publish totals, not items).",
            ["stage"], registry=self.registry, buckets=STAGE_BUCKETS)
        self.event_counts: EventCounts | None = None
        self.event_drops: Callable[[], Sequence[int]] | None = None
        self.memory: Callable[[], Sequence[Mapping[str, Any]]] | None = None

    def observe_latency(self, stream: int, seconds: Iterable[float]) -> None:
        child = self.frame_latency.labels(stream=str(stream))
        for value in seconds:
            child.observe(float(value))

    def observe_stage(self, stage: str, seconds_per_item: float) -> None:
        self.stage_item.labels(stage=stage).observe(seconds_per_item)

    def event_families(self) -> Iterator[Metric]:
        if self.event_counts is not None:
            family = CounterMetricFamily("streampose_events_by_type",
                                         "Events seen by the console, by camera and type.",
                                         labels=["stream", "camera", "type"])
            for (stream, camera, kind), n in sorted(self.event_counts().items()):
                family.add_metric([str(stream), camera, kind], n)
            yield family
        if self.event_drops is not None:
            dropped = CounterMetricFamily("streampose_console_events_dropped",
                                          "Events the console lost (its queue was full).",
                                          labels=["stream"])
            for stream, n in enumerate(self.event_drops()):
                dropped.add_metric([str(stream)], n)
            yield dropped

    def memory_families(self) -> Iterator[Metric]:
        """Each process's memory now and its peaks, and the tree's (``process="tree"``),
        in bytes (:class:`~streampose.observe.memory.MemoryPeaks`)."""
        if self.memory is None:
            return
        rows = self.memory()
        for key, what in _MEMORY:
            family = GaugeMetricFamily(f"streampose_memory_{key}_bytes", what,
                                       labels=["process", "pid"])
            for row in rows:
                family.add_metric([str(row["process"]), str(row.get("pid", ""))], row[key])
            yield family

    def exposition(self) -> bytes:
        """The registry in the Prometheus text format (what ``/metrics`` answers)."""
        return generate_latest(self.registry)


class MetricsServer(Resource):
    """Serves ``registry`` at ``http://host:port/metrics`` (127.0.0.1 by default) with
    ``prometheus_client``'s HTTP server on a daemon thread.

    ``port=0`` picks a free port; read it from ``.port`` after ``open()``.
    """

    def __init__(self, *, port: int, registry: CollectorRegistry,
                 host: str = "127.0.0.1") -> None:
        self.host, self._port, self.registry = host, port, registry
        self._server: Any = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port bound by ``open()`` (the ephemeral one for ``port=0``)."""
        return int(self._server.server_port) if self._server is not None else self._port

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def open(self) -> None:
        """Bind and start serving; OutputError when the address cannot be bound."""
        if self._server is not None:
            raise RuntimeError("metrics server already open")
        try:
            self._server, self._thread = start_http_server(self._port, addr=self.host,
                                                           registry=self.registry)
        except OSError as exc:
            raise OutputError(bind_message("metrics server", self.host, self._port,
                                           exc)) from exc
        log.info("metrics on %s", self.url)

    def close(self) -> None:
        """Stop serving, release the port and join the thread; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5.0)


def bind_message(what: str, host: str, port: int, exc: OSError) -> str:
    """One line saying why ``what`` cannot listen on ``host:port``."""
    if exc.errno == errno.EADDRINUSE:
        reason = "address already in use (another process listens there; pick another port)"
    else:
        reason = exc.strerror or str(exc)
    return f"{what}: cannot listen on {host}:{port}: {reason}"
