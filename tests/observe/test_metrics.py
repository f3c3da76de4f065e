"""Prometheus text exposition (checked by a small strict parser) and the /metrics server."""

from __future__ import annotations

import logging
import re
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

import pytest

from streampose.errors import OutputError
from streampose.lifecycle import Resource
from streampose.observe.metrics import (
    MetricsServer,
    MetricsSnapshot,
    escape_label,
    format_value,
    render_prometheus,
)

TIMEOUT_S = 5.0

_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
_SAMPLE = re.compile(rf"^({_NAME})(?:\{{(.*)\}})? (\S+)$")
_LABEL = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"(,|$)')
_COMMENT = re.compile(rf"^# (HELP|TYPE) ({_NAME}) ?(.*)$")
_TYPES = {"counter", "gauge", "summary", "histogram", "untyped"}
_UNESCAPE = {"\\\\": "\\", '\\"': '"', "\\n": "\n"}


@dataclass
class Exposition:
    types: dict[str, str] = field(default_factory=dict)
    helps: dict[str, str] = field(default_factory=dict)
    samples: dict[tuple[str, frozenset[tuple[str, str]]], float] = field(default_factory=dict)

    def value(self, name: str, **labels: str) -> float:
        return self.samples[(name, frozenset(labels.items()))]

    def names(self) -> set[str]:
        return {name for name, _ in self.samples}


def _labels(body: str) -> frozenset[tuple[str, str]]:
    labels, pos = {}, 0
    while pos < len(body):
        match = _LABEL.match(body, pos)
        assert match, f"bad labels at {body[pos:]!r}"
        value = re.sub(r'\\[\\"n]', lambda m: _UNESCAPE[m.group(0)], match.group(2))
        assert match.group(1) not in labels, f"duplicate label in {body!r}"
        labels[match.group(1)] = value
        pos = match.end()
    return frozenset(labels.items())


def _family_of(name: str, types: dict[str, str]) -> str:
    for suffix in ("_sum", "_count"):
        base = name.removesuffix(suffix)
        if base != name and types.get(base) == "summary":
            return base
    return name


def parse(text: str) -> Exposition:
    """Strict enough for our output: comments before samples, one group per family."""
    assert text.endswith("\n")
    out, done, current = Exposition(), set(), None
    for line in text[:-1].split("\n"):
        comment = _COMMENT.match(line)
        if comment:
            kind, name, rest = comment.groups()
            assert name not in done and name not in out.types, f"{name}: comment after samples"
            if kind == "TYPE":
                assert rest in _TYPES, line
                out.types[name] = rest
            else:
                assert name not in out.helps, f"{name}: second HELP"
                out.helps[name] = rest
            continue
        assert not line.startswith("#"), f"unexpected comment {line!r}"
        sample = _SAMPLE.match(line)
        assert sample, f"not a sample line: {line!r}"
        name, body, value = sample.groups()
        assert name.startswith("streampose_"), name
        family = _family_of(name, out.types)
        assert family in out.types and family in out.helps, f"{name}: no TYPE/HELP before it"
        if family != current:
            assert family not in done, f"{family}: samples not in one group"
            if current is not None:
                done.add(current)
            current = family
        key = (name, _labels(body or ""))
        assert key not in out.samples, f"duplicate sample {line!r}"
        out.samples[key] = float(value)
    return out


def _snapshot(source: str = "rtsp://cam/0") -> MetricsSnapshot:
    streams = [
        {"stream": 0, "source": source, "frames_in": 120, "frames_out": 118, "dropped": 2,
         "reconnects": 1, "decode_errors": 3, "fps_in": 10.0, "fps_out": 9.75,
         "latency_p50": 0.41,
         "latency_p95": 0.8, "latency_count": 118, "latency_sum": 50.5},
        {"stream": 1, "source": "b.mp4", "frames_in": 3, "frames_out": 0, "dropped": 0,
         "reconnects": 0, "decode_errors": 0, "fps_in": 1.5, "fps_out": 0.0,
         "latency_p50": None,
         "latency_p95": None},
    ]
    stages = [{"stage": "infer", "items": 118, "busy_s": 9.5, "busy_ratio": 0.92},
              {"stage": "render", "items": 118, "busy_ratio": 0.2}]
    return MetricsSnapshot(streams=streams, stages=stages, uptime_s=12.5)


def test_render_parses_with_expected_names_types_and_values() -> None:
    parsed = parse(render_prometheus(_snapshot()))
    assert parsed.types == {
        "streampose_stream_info": "gauge",
        "streampose_frames_in_total": "counter",
        "streampose_frames_out_total": "counter",
        "streampose_dropped_frames_total": "counter",
        "streampose_reconnects_total": "counter",
        "streampose_decode_errors_total": "counter",
        "streampose_fps_in": "gauge",
        "streampose_fps_out": "gauge",
        "streampose_latency_seconds": "summary",
        "streampose_stage_items_total": "counter",
        "streampose_stage_busy_seconds_total": "counter",
        "streampose_stage_busy_ratio": "gauge",
        "streampose_uptime_seconds": "gauge",
    }
    assert parsed.value("streampose_frames_in_total", stream="0") == 120
    assert parsed.value("streampose_dropped_frames_total", stream="0") == 2
    assert parsed.value("streampose_reconnects_total", stream="1") == 0
    assert parsed.value("streampose_decode_errors_total", stream="0") == 3
    assert parsed.value("streampose_fps_out", stream="0") == 9.75
    assert parsed.value("streampose_latency_seconds", stream="0", quantile="0.5") == 0.41
    assert parsed.value("streampose_latency_seconds", stream="0", quantile="0.95") == 0.8
    assert parsed.value("streampose_latency_seconds_sum", stream="0") == 50.5
    assert parsed.value("streampose_latency_seconds_count", stream="0") == 118
    assert parsed.value("streampose_stage_busy_ratio", stage="infer") == 0.92
    assert parsed.value("streampose_stage_items_total", stage="render") == 118
    assert parsed.value("streampose_stage_busy_seconds_total", stage="infer") == 9.5
    assert parsed.value("streampose_uptime_seconds") == 12.5
    assert parsed.value("streampose_stream_info", stream="0", source="rtsp://cam/0") == 1


def test_missing_latency_gives_no_quantiles_but_sum_and_count() -> None:
    parsed = parse(render_prometheus(_snapshot()))
    quantiles = [labels for name, labels in parsed.samples
                 if name == "streampose_latency_seconds" and ("stream", "1") in labels]
    assert quantiles == []
    assert parsed.value("streampose_latency_seconds_count", stream="1") == 0
    # a stage without busy_s has no busy-seconds sample, and no other gap
    assert ("streampose_stage_busy_seconds_total",
            frozenset({("stage", "render")})) not in parsed.samples


def test_empty_snapshot_has_only_uptime() -> None:
    parsed = parse(render_prometheus(MetricsSnapshot()))
    assert parsed.names() == {"streampose_uptime_seconds"}


@pytest.mark.parametrize("source", [
    'C:\\cams\\front "door"\nsecond line',
    "rtsp://***@host/stream?x=1&y=2",
    "unicode é ü 東京",
    "\\",
])
def test_label_values_round_trip(source: str) -> None:
    text = render_prometheus(_snapshot(source))
    assert parse(text).value("streampose_stream_info", stream="0", source=source) == 1
    assert all("\n" not in line for line in text.splitlines())


@pytest.mark.parametrize(("raw", "escaped"), [
    ('a"b', 'a\\"b'), ("a\\b", "a\\\\b"), ("a\nb", "a\\nb"), ("\\n", "\\\\n"), ("ok", "ok"),
])
def test_escape_label(raw: str, escaped: str) -> None:
    assert escape_label(raw) == escaped


@pytest.mark.parametrize(("value", "text"), [
    (3, "3"), (0.5, "0.5"), (float("nan"), "NaN"), (float("inf"), "+Inf"),
    (float("-inf"), "-Inf"), (True, "1"), (1e-7, "1e-07"),
])
def test_format_value(value: float, text: str) -> None:
    assert format_value(value) == text


# -- server ------------------------------------------------------------------------------


def _get(url: str) -> tuple[int, str, str]:
    with urllib.request.urlopen(url, timeout=TIMEOUT_S) as resp:
        return resp.status, resp.headers["Content-Type"], resp.read().decode("utf-8")


@pytest.fixture
def server() -> Any:
    srv = MetricsServer(port=0, snapshot=_snapshot)
    srv.open()
    yield srv
    srv.close()


def test_server_serves_metrics(server: MetricsServer, caplog: pytest.LogCaptureFixture,
                               capsys: pytest.CaptureFixture[str]) -> None:
    assert server.port > 0
    with caplog.at_level(logging.DEBUG, logger="streampose.observe.metrics"):
        status, content_type, body = _get(f"http://127.0.0.1:{server.port}/metrics")
        server.close()  # joins the server thread: its log record has been emitted
    assert status == 200
    assert content_type == "text/plain; version=0.0.4; charset=utf-8"
    assert {"streampose_frames_in_total", "streampose_latency_seconds",
            "streampose_stage_busy_ratio", "streampose_uptime_seconds"} <= parse(body).names()
    assert any("GET /metrics" in r.getMessage() for r in caplog.records)
    assert capsys.readouterr().err == ""


def test_server_query_string_is_ignored(server: MetricsServer) -> None:
    assert _get(f"{server.url}?x=1")[0] == 200


@pytest.mark.parametrize("path", ["/", "/metrics/", "/metricsx", "/favicon.ico"])
def test_server_404_elsewhere(server: MetricsServer, path: str) -> None:
    with pytest.raises(urllib.error.HTTPError) as info:
        _get(f"http://127.0.0.1:{server.port}{path}")
    assert info.value.code == 404


def test_server_500_when_snapshot_fails(caplog: pytest.LogCaptureFixture) -> None:
    def broken() -> MetricsSnapshot:
        raise RuntimeError("boom")

    with MetricsServer(port=0, snapshot=broken) as srv, \
            pytest.raises(urllib.error.HTTPError) as info:
        _get(srv.url)
    assert info.value.code == 500
    assert any("snapshot failed" in r.getMessage() for r in caplog.records)


def test_port_in_use_is_an_output_error() -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        srv = MetricsServer(port=port, snapshot=_snapshot)
        with pytest.raises(OutputError, match=f"127.0.0.1:{port}: address already in use"):
            srv.open()
        srv.close()  # nothing started: a no-op


def test_close_releases_the_port_and_is_idempotent() -> None:
    first = MetricsServer(port=0, snapshot=_snapshot)
    first.close()  # before open: no-op
    first.open()
    port = first.port
    assert _get(first.url)[0] == 200
    first.close()
    first.close()
    with pytest.raises(urllib.error.URLError):
        _get(f"http://127.0.0.1:{port}/metrics")
    with MetricsServer(port=port, snapshot=_snapshot) as second:
        assert second.port == port
        assert _get(second.url)[0] == 200


def test_open_twice_is_refused(server: MetricsServer) -> None:
    with pytest.raises(RuntimeError, match="already open"):
        server.open()


def test_server_is_a_resource() -> None:
    assert isinstance(MetricsServer(port=0, snapshot=_snapshot), Resource)
    assert not hasattr(MetricsServer, "start")
