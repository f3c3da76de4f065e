"""Prometheus metrics through prometheus_client: the families a run exposes (parsed with
the library's own parser), the histograms, the events by type, and the /metrics server."""

from __future__ import annotations

import socket
import urllib.error
import urllib.request
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from streampose.errors import OutputError
from streampose.lifecycle import Resource
from streampose.observe.counters import FIELDS
from streampose.observe.metrics import MetricsServer, MetricsSnapshot, RunMetrics, counter_name

TIMEOUT_S = 5.0


def _stream(i: int, **kw: Any) -> dict[str, Any]:
    base = {"stream": i, "camera": f"cam{i}", "source": f"rtsp://host/cam{i}",
            "fps_in": 10.0, "fps_out": 9.5, "latency_p50": 0.2, "latency_p95": 0.4,
            "latency_count": 100, "latency_sum": 21.5}
    return base | {name: 7 + i for name in FIELDS} | kw


SNAPSHOT = MetricsSnapshot(
    streams=[_stream(0), _stream(1, latency_p50=None, latency_p95=None, source='we"ird\n')],
    stages=[{"stage": "infer", "items": 40, "busy_s": 3.5, "busy_ratio": 0.75}],
    uptime_s=12.5)


def samples(text: str) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    """Every sample, by name and labels (what a scraper sees)."""
    return {(s.name, frozenset(s.labels.items())): s.value
            for family in text_string_to_metric_families(text) for s in family.samples}


def types(text: str) -> dict[str, str]:
    return {family.name: family.type for family in text_string_to_metric_families(text)}


def test_work_item_counters_per_stream() -> None:
    snapshot = MetricsSnapshot(streams=[_stream(0, frames_inferred=30, work_items=120,
                                                 frames_skipped=5)])
    text = RunMetrics(lambda: snapshot).exposition().decode()
    got, kinds = samples(text), types(text)
    for name, value in (("streampose_frames_inferred", 30), ("streampose_work_items", 120),
                        ("streampose_frames_skipped", 5)):
        assert kinds[name] == "counter", name
        assert got[(f"{name}_total", frozenset({("stream", "0")}))] == value
    assert 'streampose_work_items_total{stream="0"} 120.0' in text


def test_today_s_names_types_and_values() -> None:
    metrics = RunMetrics(lambda: SNAPSHOT)
    text = metrics.exposition().decode()
    got, kinds = samples(text), types(text)
    for name in ("streampose_frames_in", "streampose_frames_out", "streampose_dropped_frames",
                 "streampose_reconnects", "streampose_stage_items",
                 "streampose_stage_busy_seconds"):
        assert kinds[name] == "counter", name
    for name in ("streampose_fps_in", "streampose_fps_out", "streampose_stage_busy_ratio",
                 "streampose_uptime_seconds", "streampose_stream_info"):
        assert kinds[name] == "gauge", name
    assert kinds["streampose_latency_seconds"] == "summary"
    assert got[("streampose_frames_in_total", frozenset({("stream", "1")}))] == 8
    assert got[("streampose_dropped_frames_total", frozenset({("stream", "0")}))] == 7
    assert got[("streampose_fps_out", frozenset({("stream", "0")}))] == 9.5
    assert got[("streampose_latency_seconds", frozenset({("stream", "0"),
                                                          ("quantile", "0.95")}))] == 0.4
    assert ("streampose_latency_seconds", frozenset({("stream", "1"), ("quantile", "0.5")})) \
        not in got
    assert got[("streampose_latency_seconds_count", frozenset({("stream", "1")}))] == 100
    assert got[("streampose_stage_busy_seconds_total", frozenset({("stage", "infer")}))] == 3.5
    assert got[("streampose_uptime_seconds", frozenset())] == 12.5
    info = frozenset({("stream", "1"), ("camera", "cam1"), ("source", 'we"ird\n')})
    assert got[("streampose_stream_info", info)] == 1  # label escaping round-trips


def test_every_shared_counter_is_exposed() -> None:
    text = RunMetrics(lambda: SNAPSHOT).exposition().decode()
    kinds = types(text)
    assert all(kinds[counter_name(name)] == "counter" for name in FIELDS)


def test_a_counter_added_to_fields_gets_its_own_family() -> None:
    assert counter_name("decode_errors") == "streampose_decode_errors"
    assert counter_name("dropped") == "streampose_dropped_frames"


def test_histograms_and_events_by_type() -> None:
    metrics = RunMetrics(lambda: SNAPSHOT)
    metrics.observe_latency(0, [0.02, 0.3, 20.0])
    metrics.observe_stage("infer", 0.004)
    metrics.event_counts = lambda: {(0, "cam0", "line"): 3, (1, "cam1", "fall"): 1}
    metrics.event_drops = lambda: [0, 2]
    text = metrics.exposition().decode()
    got, kinds = samples(text), types(text)
    assert kinds["streampose_frame_latency_seconds"] == "histogram"
    assert kinds["streampose_stage_item_seconds"] == "histogram"
    bucket = "streampose_frame_latency_seconds_bucket"
    assert got[(bucket, frozenset({("stream", "0"), ("le", "0.025")}))] == 1
    assert got[(bucket, frozenset({("stream", "0"), ("le", "0.5")}))] == 2
    assert got[(bucket, frozenset({("stream", "0"), ("le", "+Inf")}))] == 3
    assert got[("streampose_stage_item_seconds_count", frozenset({("stage", "infer")}))] == 1
    by_type = frozenset({("stream", "1"), ("camera", "cam1"), ("type", "fall")})
    assert got[("streampose_events_by_type_total", by_type)] == 1
    assert got[("streampose_console_events_dropped_total", frozenset({("stream", "1")}))] == 2


def test_empty_snapshot_has_uptime_and_stage_families_only() -> None:
    text = RunMetrics(lambda: MetricsSnapshot()).exposition().decode()
    assert "streampose_frames_in" not in types(text)
    assert samples(text)[("streampose_uptime_seconds", frozenset())] == 0


# -- the server --------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str, str]:
    try:
        with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
            return resp.status, resp.headers["Content-Type"], resp.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.headers["Content-Type"], err.read().decode()


@pytest.fixture
def server() -> Any:
    with MetricsServer(port=0, registry=RunMetrics(lambda: SNAPSHOT).registry) as srv:
        yield srv


def test_server_serves_metrics(server: MetricsServer) -> None:
    assert server.port > 0 and server.url.endswith(f":{server.port}/metrics")
    status, content_type, body = _get(server.url)
    assert status == 200 and content_type.startswith("text/plain")
    assert samples(body)[("streampose_frames_out_total", frozenset({("stream", "0")}))] == 7


def test_port_in_use_is_an_output_error() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        srv = MetricsServer(port=port, registry=RunMetrics(lambda: SNAPSHOT).registry)
        with pytest.raises(OutputError, match=f"127.0.0.1:{port}.*already in use"):
            srv.open()


def test_close_releases_the_port_and_is_idempotent() -> None:
    srv = MetricsServer(port=0, registry=RunMetrics(lambda: SNAPSHOT).registry)
    srv.open()
    port = srv.port
    srv.close()
    srv.close()
    with socket.socket() as again:
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def test_open_twice_is_refused(server: MetricsServer) -> None:
    with pytest.raises(RuntimeError, match="already open"):
        server.open()


def test_server_is_a_resource() -> None:
    assert issubclass(MetricsServer, Resource)
