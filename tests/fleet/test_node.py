"""A node's pieces that need no Ray: its cameras file, SIGHUP detection, the figures read
from a pipeline's metrics page, and the pipeline process that dies with its parent."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

from streampose.config.cameras_file import Camera, load_cameras
from streampose.fleet.figures import parse_metrics
from streampose.fleet.node import catches_sighup, write_node_file
from streampose.observe.metrics import MetricsSnapshot, RunMetrics
from tests.support.waiting import wait_until


def test_node_file_reads_back(tmp_path: Path) -> None:
    cams = (Camera(name="door", url="rtsp://u:pw@10.0.0.5/s1", transport="tcp"),
            Camera(name="yard", url="rtsp://10.0.0.6/live", record=False))
    settings = {"model": {"path": str(tmp_path / "m.onnx"), "backend": "fake"},
                "mqtt": {"url": "mqtt://127.0.0.1:1883/sp"}}
    path = tmp_path / "node" / "cameras.toml"
    write_node_file(path, cams, settings)
    back = load_cameras(path)
    assert back.cameras == cams
    assert back.settings["model"]["backend"] == "fake"
    assert back.settings["mqtt"]["url"] == "mqtt://127.0.0.1:1883/sp"
    assert [p.name for p in path.parent.iterdir()] == ["cameras.toml"]  # no temp file left


def test_catches_sighup() -> None:
    plain = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    handler = subprocess.Popen([sys.executable, "-c", (
        "import signal, sys, time; signal.signal(signal.SIGHUP, lambda *a: None); "
        "print('ready', flush=True); time.sleep(60)")], stdout=subprocess.PIPE)
    try:
        assert handler.stdout is not None and handler.stdout.readline() == b"ready\n"
        assert catches_sighup(handler.pid)
        assert not catches_sighup(plain.pid)
        assert not catches_sighup(2**22 + 12345)  # no such process
    finally:
        for proc in (plain, handler):
            proc.kill()
            proc.wait()


def test_figures_from_a_metrics_page() -> None:
    streams = [
        {"stream": 0, "camera": "door", "source": "rtsp://u:***@x/1", "frames_in": 120,
         "frames_out": 118, "dropped": 2, "reconnects": 1, "mqtt_dropped": 0,
         "decode_errors": 0, "events": 0, "fps_in": 10.0, "fps_out": 9.5,
         "latency_p50": 0.08, "latency_p95": 0.125, "latency_count": 118,
         "latency_sum": 9.0, "state": "online"},
        {"stream": 1, "camera": "yard", "source": "rtsp://y/2", "frames_in": 0,
         "frames_out": 0, "dropped": 0, "reconnects": 0, "fps_in": 0.0, "fps_out": 0.0,
         "latency_p50": None, "latency_p95": None, "state": "starting"},
    ]
    text = RunMetrics(lambda: MetricsSnapshot(streams=streams, uptime_s=12.0)) \
        .exposition().decode()
    figures = parse_metrics(text)
    assert figures["door"] == {"fps_in": 10.0, "fps_out": 9.5, "frames_in": 120,
                               "frames_out": 118, "dropped": 2, "reconnects": 1,
                               "lag_p95": 0.125, "state": "online"}
    assert figures["yard"]["lag_p95"] is None and figures["yard"]["frames_in"] == 0
    assert figures["yard"]["state"] == "starting"  # the pipeline's own state, read


def test_the_pipeline_process_dies_with_its_parent(tmp_path: Path) -> None:
    """streampose.fleet.child: the process started by a thread gets SIGTERM when its
    parent dies (a Ray worker lost with its node), so a camera is never left running
    on a node the controller has given up."""
    marker = tmp_path / "child.pid"
    child = tmp_path / "child.py"
    child.write_text(
        "import os, sys, time\n"
        "from streampose.fleet.child import die_with_parent\n"
        "die_with_parent(os.getppid())\n"
        f"open({str(marker)!r}, 'w').write(str(os.getpid()))\n"
        "time.sleep(120)\n")
    parent = subprocess.Popen([sys.executable, "-c", (
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, {str(child)!r}])\n"
        "time.sleep(120)\n")])
    try:
        pid = int(wait_until(lambda: marker.exists() and marker.read_text(), timeout=60,
                             what="the child to start"))
        parent.kill()
        parent.wait()
        wait_until(lambda: not _alive(pid), timeout=60, what="the child to die")
    finally:
        parent.kill()
        parent.wait()
        if marker.exists() and _alive(int(marker.read_text())):
            os.kill(int(marker.read_text()), signal.SIGKILL)


def _alive(pid: int) -> bool:
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    return "State:\tZ" not in status


def test_child_without_arguments_says_how() -> None:
    run = subprocess.run([sys.executable, "-m", "streampose.fleet.child"], capture_output=True,
                         text=True, timeout=60)
    assert run.returncode == 2 and "usage" in run.stderr



def test_a_pipeline_that_keeps_failing_says_so(tmp_path: Path) -> None:
    """A node whose pipeline exits at once (here: an unknown backend) restarts it with
    backoff and reports its cameras ``failing`` with the log to read."""
    from streampose.fleet.node import NodePipeline

    node = NodePipeline("n1", "host-n1", str(tmp_path / "node"))
    try:
        node.apply([Camera(name="door", url="rtsp://127.0.0.1:9/none")],
                   {"model": {"path": "openpose-mnv2s-coco18.onnx", "backend": "nope"}}, 1)
        figures = wait_until(lambda: node.figures()["door"]["state"] == "failing"
                             and node.figures(), timeout=120, what="the failing state")
        log = Path(figures["door"]["log"]).read_text()
        assert "nope" in log and node.info()["starts"] >= 3
    finally:
        node.stop()
    assert node.info()["pid"] is None
