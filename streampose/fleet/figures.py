"""Each camera's live figures, read from a pipeline's Prometheus page (``--metrics-port``).

A node pipeline is an ordinary ``streampose run``; its node actor reads
``http://127.0.0.1:<port>/metrics`` and turns the per-stream families into one record
per camera (the ``camera`` label of ``streampose_stream_info`` names each stream):
``fps_in``, ``fps_out``, ``frames_in``, ``frames_out``, ``dropped``, ``reconnects``,
``lag_p95`` (capture-to-output latency, seconds, None before the first frame) and
``state`` (the pipeline's own camera state, :mod:`streampose.observe.camera_state`;
None on a page without it).
"""

from __future__ import annotations

import logging
import urllib.error
import urllib.request
from typing import Any

__all__ = ["parse_metrics", "read_figures"]

log = logging.getLogger(__name__)

# Prometheus family (as the parser names it) -> the record's key.
_FAMILIES = {
    "streampose_fps_in": "fps_in",
    "streampose_fps_out": "fps_out",
    "streampose_frames_in": "frames_in",
    "streampose_frames_out": "frames_out",
    "streampose_dropped_frames": "dropped",
    "streampose_reconnects": "reconnects",
}


def parse_metrics(text: str) -> dict[str, dict[str, Any]]:
    """The figures of every camera on a pipeline's metrics page (its text format)."""
    from prometheus_client.parser import text_string_to_metric_families

    cameras: dict[str, str] = {}  # stream index -> camera name
    values: dict[str, dict[str, Any]] = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            stream = sample.labels.get("stream")
            if stream is None:
                continue
            if family.name == "streampose_stream_info":
                cameras[stream] = sample.labels.get("camera") or stream
                continue
            key = _FAMILIES.get(family.name)
            if key is not None and sample.name in (family.name, family.name + "_total"):
                values.setdefault(stream, {})[key] = sample.value
            elif family.name == "streampose_stream_state" and sample.value == 1:
                values.setdefault(stream, {})["state"] = sample.labels.get("state")
            elif family.name == "streampose_latency_seconds" and \
                    sample.labels.get("quantile") == "0.95":
                values.setdefault(stream, {})["lag_p95"] = sample.value
    out = {}
    for stream, camera in cameras.items():
        record: dict[str, Any] = {"fps_in": 0.0, "fps_out": 0.0, "frames_in": 0,
                                  "frames_out": 0, "dropped": 0, "reconnects": 0,
                                  "lag_p95": None, "state": None}
        for key, value in values.get(stream, {}).items():
            record[key] = value if key.startswith(("fps", "lag", "state")) else int(value)
        out[camera] = record
    return out


def read_figures(port: int, timeout_s: float = 1.0) -> dict[str, dict[str, Any]] | None:
    """The figures of the pipeline serving metrics on ``127.0.0.1:port``; None when it
    does not answer (still starting, or gone)."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics",
                                    timeout=timeout_s) as reply:
            text = reply.read().decode("utf-8", errors="replace")
    except (OSError, urllib.error.URLError) as exc:
        log.debug("metrics on port %d: %s", port, exc)
        return None
    return parse_metrics(text)
