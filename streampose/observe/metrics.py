"""Prometheus metrics: text exposition format 0.0.4, served over HTTP on loopback.

``render_prometheus`` turns a ``MetricsSnapshot`` (plain data built by the parent) into the
text format; ``MetricsServer`` answers ``GET /metrics`` from a daemon thread with whatever
its ``snapshot`` callable returns. That callable runs on the server's threads, so it
should be cheap and thread-safe (e.g. return the last snapshot built on the progress tick).
"""

from __future__ import annotations

import errno
import logging
import math
import socket
import threading
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from streampose.errors import OutputError
from streampose.lifecycle import Resource

log = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
QUANTILES = (("0.5", "latency_p50"), ("0.95", "latency_p95"))


@dataclass(kw_only=True)
class MetricsSnapshot:
    """What the metrics endpoint shows.

    ``streams``: one dict per stream with ``stream`` (index), ``source`` (name, credentials
    already redacted), ``frames_in``, ``frames_out``, ``dropped``, ``reconnects``,
    ``decode_errors``,
    ``fps_in``, ``fps_out``, ``latency_p50``/``latency_p95`` (seconds or None) and,
    optionally, ``latency_count``/``latency_sum`` (all samples ever, for the summary).
    ``stages``: one dict per stage with ``stage`` (name), ``items``, ``busy_ratio`` and
    optionally ``busy_s`` (cumulative busy seconds).
    """

    streams: list[dict[str, Any]] = field(default_factory=list)
    stages: list[dict[str, Any]] = field(default_factory=list)
    uptime_s: float = 0.0


# -- text format ------------------------------------------------------------------------


def escape_label(value: str) -> str:
    """Escape a label value: backslash, double quote and line feed."""
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _escape_help(text: str) -> str:
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def format_value(value: float) -> str:
    """A sample value as the text format writes it (integers exactly, NaN, +Inf, -Inf)."""
    if isinstance(value, bool):
        return "1" if value else "0"
    if isinstance(value, int):
        return str(value)
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return repr(float(value))


def _sample(name: str, labels: dict[str, str], value: float) -> str:
    if not labels:
        return f"{name} {format_value(value)}"
    body = ",".join(f'{key}="{escape_label(str(val))}"' for key, val in labels.items())
    return f"{name}{{{body}}} {format_value(value)}"


def _family(name: str, kind: str, help_text: str, samples: Sequence[str]) -> list[str]:
    return [f"# HELP {name} {_escape_help(help_text)}", f"# TYPE {name} {kind}", *samples]


_STREAM_FAMILIES = (
    ("streampose_frames_in_total", "counter", "frames_in", "Frames decoded from the source."),
    ("streampose_frames_out_total", "counter", "frames_out", "Frames rendered and written."),
    ("streampose_dropped_frames_total", "counter", "dropped", "Frames dropped (ring full)."),
    ("streampose_reconnects_total", "counter", "reconnects", "Reconnections to the source."),
    ("streampose_decode_errors_total", "counter", "decode_errors",
     "Damaged packets or frames, or unreadable images, skipped."),
    ("streampose_fps_in", "gauge", "fps_in", "Frames in per second, recent window."),
    ("streampose_fps_out", "gauge", "fps_out", "Frames out per second, recent window."),
)

_STAGE_FAMILIES = (
    ("streampose_stage_items_total", "counter", "items", "Items processed by the stage."),
    ("streampose_stage_busy_seconds_total", "counter", "busy_s",
     "Seconds the stage spent working (not waiting)."),
    ("streampose_stage_busy_ratio", "gauge", "busy_ratio",
     "Busy seconds per wall second over the recent window."),
)


def _stream_info(streams: Sequence[dict[str, Any]]) -> list[str]:
    samples = [_sample("streampose_stream_info",
                       {"stream": str(s["stream"]), "source": str(s.get("source", ""))}, 1)
               for s in streams]
    return _family("streampose_stream_info", "gauge", "Source of each stream (value 1).",
                   samples)


def _keyed(rows: Sequence[dict[str, Any]], label: str,
           families: Sequence[tuple[str, str, str, str]]) -> Iterator[str]:
    for name, kind, key, help_text in families:
        samples = [_sample(name, {label: str(row[label])}, row[key])
                   for row in rows if row.get(key) is not None]
        if samples:
            yield from _family(name, kind, help_text, samples)


def _latency(streams: Sequence[dict[str, Any]]) -> list[str]:
    name = "streampose_latency_seconds"
    samples: list[str] = []
    for s in streams:
        stream = str(s["stream"])
        samples += [_sample(name, {"stream": stream, "quantile": q}, s[key])
                    for q, key in QUANTILES if s.get(key) is not None]
        samples.append(_sample(f"{name}_sum", {"stream": stream}, s.get("latency_sum", 0.0)))
        samples.append(_sample(f"{name}_count", {"stream": stream}, s.get("latency_count", 0)))
    return _family(name, "summary", "Capture-to-output latency; quantiles over the last "
                   "frames, sum and count over the whole run.", samples)


def render_prometheus(snapshot: MetricsSnapshot) -> str:
    """The snapshot in Prometheus text exposition format 0.0.4 (ends with a newline)."""
    lines: list[str] = []
    if snapshot.streams:
        lines += _stream_info(snapshot.streams)
        lines += _keyed(snapshot.streams, "stream", _STREAM_FAMILIES)
        lines += _latency(snapshot.streams)
    lines += _keyed(snapshot.stages, "stage", _STAGE_FAMILIES)
    lines += _family("streampose_uptime_seconds", "gauge", "Seconds since the run started.",
                     [_sample("streampose_uptime_seconds", {}, snapshot.uptime_s)])
    return "\n".join(lines) + "\n"


# -- HTTP server ------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    timeout = 5.0  # a client that stalls does not hold a thread for long

    def do_GET(self) -> None:
        if self.path.split("?", 1)[0] != "/metrics":
            self._reply(404, b"not found; try /metrics\n", "text/plain; charset=utf-8")
            return
        try:
            body = render_prometheus(self.server.snapshot()).encode("utf-8")
        except Exception:
            log.exception("metrics snapshot failed")
            self._reply(500, b"metrics snapshot failed\n", "text/plain; charset=utf-8")
            return
        self._reply(200, body, CONTENT_TYPE)

    def _reply(self, status: int, body: bytes, content_type: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        log.debug("metrics %s: " + format, self.address_string(), *args)


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, address: tuple[str, int],
                 snapshot: Callable[[], MetricsSnapshot]) -> None:
        self.snapshot = snapshot
        super().__init__(address, _Handler)


class _Server6(_Server):
    address_family = socket.AF_INET6


class MetricsServer(Resource):
    """Serves ``GET /metrics`` on ``host:port`` (127.0.0.1 by default) from a daemon thread.

    ``open()`` binds and starts serving, ``close()`` stops (``with MetricsServer(...)``
    does both). ``port=0`` picks a free port; read it from ``.port`` after ``open()``.
    """

    def __init__(self, *, port: int, snapshot: Callable[[], MetricsSnapshot],
                 host: str = "127.0.0.1") -> None:
        self.host, self._port, self._snapshot = host, port, snapshot
        self._server: _Server | None = None
        self._bound: int | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        """The port bound by the last ``open()`` (the ephemeral one for ``port=0``)."""
        return self._port if self._bound is None else self._bound

    @property
    def url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}/metrics"

    def open(self) -> None:
        """Bind and start serving; OutputError when the address cannot be bound."""
        if self._server is not None:
            raise RuntimeError("metrics server already open")
        self._server = self._bind()
        self._bound = int(self._server.server_address[1])
        self._thread = threading.Thread(target=self._server.serve_forever,
                                        kwargs={"poll_interval": 0.05},
                                        name="streampose-metrics", daemon=True)
        self._thread.start()
        log.info("metrics on %s", self.url)

    def close(self) -> None:
        """Stop serving, release the port and join the thread; idempotent."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        if thread is not None:
            server.shutdown()
            thread.join(timeout=5.0)
        server.server_close()

    def _bind(self) -> _Server:
        cls = _Server6 if ":" in self.host else _Server
        try:
            return cls((self.host, self._port), self._snapshot)
        except OSError as exc:
            raise OutputError(_bind_message(self.host, self._port, exc)) from exc


def _bind_message(host: str, port: int, exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        reason = "address already in use (another process listens there; pick another port)"
    else:
        reason = exc.strerror or str(exc)
    return f"metrics server: cannot listen on {host}:{port}: {reason}"
