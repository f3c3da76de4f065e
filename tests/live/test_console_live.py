"""The console's /metrics and /api/status during a live RTSP run, scraped and parsed with
prometheus_client's parser: counters never go down, a camera that dies and comes back
shows as ``reconnecting`` and then as a reconnect, and the camera's password appears
nowhere (metrics, status, page, log)."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

from tests.live.camera import VTEST, RtspCamera, free_port
from tests.support.shm import shm_segments
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.usefixtures("rtsp_vtest")]

WAIT_S = 90.0
SECRET = "hunter2"

Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


class Scraper:
    """Scrapes /metrics, keeping every scrape to check that counters never decrease."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.scrapes: list[Samples] = []
        self.counters: set[str] = set()

    def get(self, path: str) -> str:
        with urllib.request.urlopen(self.base + path, timeout=10) as resp:
            return resp.read().decode()

    def scrape(self) -> Samples:
        families = list(text_string_to_metric_families(self.get("metrics")))
        self.counters |= {f.name for f in families if f.type == "counter"}
        got = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
        self.scrapes.append(got)
        return got

    def value(self, name: str) -> float:
        return self.scrape().get((name, frozenset({("stream", "0")})), 0.0)

    def state(self) -> str:
        return str(json.loads(self.get("api/status"))["streams"][0]["state"])

    def check_monotonic(self) -> None:
        for before, after in zip(self.scrapes, self.scrapes[1:], strict=False):
            for key, value in before.items():
                if key[0].endswith("_total") and key in after:
                    assert after[key] >= value, f"{key} went from {value} to {after[key]}"


def test_metrics_and_state_through_a_reconnect(tmp_path: Path) -> None:
    port, log = free_port(), tmp_path / "stderr.txt"
    with RtspCamera(file=VTEST) as cam:
        url = cam.url.replace("rtsp://", f"rtsp://viewer:{SECRET}@")
        with log.open("w") as err:
            proc = subprocess.Popen(
                [sys.executable, "-m", "streampose", "run", url, "--model",
                 "openpose-mnv2s-coco18.onnx", "--backend", "fake", "--serve", str(port),
                 "--stall-timeout", "2", "--duration", "600", "--no-progress",
                 "--log-level", "INFO"], stderr=err)
        try:
            web = Scraper(f"http://127.0.0.1:{port}/")
            wait_until(lambda: _quietly(lambda: web.value("streampose_frames_in_total") >= 10),
                       timeout=WAIT_S, what="frames counted in /metrics")
            assert "streampose_frames_in" in web.counters and web.state() == "online"
            cam.kill()
            wait_until(lambda: web.state() == "reconnecting", timeout=WAIT_S,
                       what="the dead camera shown as reconnecting")
            before = web.value("streampose_frames_in_total")
            cam.restart()
            wait_until(lambda: web.value("streampose_reconnects_total") >= 1, timeout=WAIT_S,
                       what="a reconnect in /metrics")
            wait_until(lambda: web.value("streampose_frames_in_total") >= before + 10,
                       timeout=WAIT_S, what="frames again after the reconnect")
            wait_until(lambda: web.state() == "online", timeout=WAIT_S, what="online again")
            shown = web.get("metrics") + web.get("api/status") + web.get("")
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=WAIT_S)
    web.check_monotonic()
    assert len(web.scrapes) >= 4
    assert proc.returncode == 130 and shm_segments(proc.pid) == []
    assert SECRET not in shown and SECRET not in log.read_text()


def _quietly(check: Callable[[], bool]) -> bool:
    """``check()``, False while the server is not up yet."""
    try:
        return check()
    except OSError:
        return False
