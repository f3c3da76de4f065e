"""Live cameras end to end against real RTSP servers on loopback (bounded in time).

Each scenario runs ``streampose run`` on one or two looping RTSP cameras with
``--duration`` and checks the JSON lines (capture wall times), the summary and
/dev/shm. The fake backend keeps the model out of the timing, except where a slow model
is the point.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from streampose.sources import probe_video
from tests.live.camera import RtspCamera, rtsp_available

SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VTEST = SHARED / "media" / "vtest.mp4"

pytestmark = [pytest.mark.live, pytest.mark.slow]


@pytest.fixture(autouse=True)
def _needs_rtsp() -> None:
    reason = rtsp_available()
    if reason is not None:
        pytest.skip(f"no RTSP test server: {reason}")
    if not VTEST.exists():
        pytest.skip("needs ../shared/media/vtest.mp4 (the shared data folder)")


class Run:
    """``streampose run`` in the background on some cameras, for ``duration`` seconds."""

    def __init__(self, tmp: Path, urls: list[str], duration: float, *extra: str) -> None:
        self.tmp, self.jsonl, self.summary = tmp, tmp / "o.jsonl", tmp / "s.json"
        self.started = time.time()
        args = [sys.executable, "-m", "streampose", "run", *urls, "--model",
                "openpose-mnv2s-coco18.onnx", "--backend", "fake", "--json", str(self.jsonl),
                "--summary", str(self.summary), "--duration", str(duration), "--no-progress",
                "--stall-timeout", "2", *extra]
        self.proc = subprocess.Popen(args, stderr=subprocess.PIPE, text=True)

    def wait(self, timeout: float = 90) -> str:
        _, stderr = self.proc.communicate(timeout=timeout)
        assert self.proc.returncode == 0, stderr
        assert not [n for n in os.listdir("/dev/shm") if n.startswith(f"sp-{self.proc.pid}-")]
        return stderr

    def walls(self, stream: int) -> list[float]:
        """Capture times of the stream's frames, in seconds since the run started."""
        lines = [json.loads(x) for x in self.jsonl.read_text().splitlines()]
        return [x["wall"] - self.started for x in lines if x["stream"] == stream]

    def stream(self, i: int) -> dict:
        return json.loads(self.summary.read_text())["streams"][i]


def at(seconds: float, action) -> threading.Timer:
    timer = threading.Timer(seconds, action)
    timer.start()
    return timer


def frames_between(walls: list[float], start: float, end: float) -> int:
    return sum(1 for w in walls if start <= w < end)


def test_camera_killed_then_restarted_resumes(tmp_path: Path) -> None:
    with RtspCamera(file=VTEST) as cam:
        run = Run(tmp_path, [cam.url], 16)
        at(6, cam.kill)
        at(9, cam.restart)
        run.wait()
    walls = run.walls(0)
    assert frames_between(walls, 2, 6) >= 20, "no output before the kill"
    assert frames_between(walls, 12, 15.5) >= 15, "output did not resume after the restart"
    assert run.stream(0)["reconnects"] >= 1


def test_stalled_camera_is_detected_and_reconnected(tmp_path: Path) -> None:
    """A 5 s freeze against a 2 s stall timeout: even a client running a second or two
    behind (a loaded machine) sees a gap longer than the timeout."""
    with RtspCamera(file=VTEST) as cam:
        run = Run(tmp_path, [cam.url], 18)
        at(5, cam.pause)
        at(10, cam.resume)
        stderr = run.wait()
    walls = run.walls(0)
    assert "stalled" in stderr
    assert frames_between(walls, 13.5, 17.5) >= 15, "output did not resume after SIGCONT"
    assert run.stream(0)["reconnects"] >= 1


def test_dead_camera_does_not_slow_the_other(tmp_path: Path) -> None:
    with RtspCamera(file=VTEST) as cam0, RtspCamera(file=VTEST) as cam1:
        run = Run(tmp_path, [cam0.url, cam1.url], 14, "-o", str(tmp_path / "v_{stream}.mp4"))
        at(5, cam1.kill)
        run.wait()
    walls = run.walls(0)
    before, after = frames_between(walls, 2.5, 5), frames_between(walls, 7.5, 13)
    assert after / 5.5 >= 0.8 * before / 2.5, (before, after)  # camera 0 keeps its rate
    assert frames_between(run.walls(1), 7, 14) == 0
    for stream in (0, 1):  # fragmented recordings are playable
        assert probe_video(tmp_path / f"v_{stream}.mp4")[0] > 0


def test_refused_connection_is_retried_until_the_duration_ends(tmp_path: Path) -> None:
    from tests.live.camera import free_port

    url = f"rtsp://user:secret@127.0.0.1:{free_port()}/nothing"
    started = time.monotonic()
    stderr = Run(tmp_path, [url], 5).wait()
    assert time.monotonic() - started < 20
    assert "Connection refused" in stderr and "reconnecting" in stderr
    assert "secret" not in stderr and "user:***@" in stderr


def test_latency_stays_bounded_when_the_model_is_slower(tmp_path: Path) -> None:
    with RtspCamera(file=VTEST) as cam:
        # the fake model takes 250 ms a frame: 4 fps for a 10 fps camera
        run = Run(tmp_path, [cam.url], 12, "--backend-option", "delay_ms=250")
        run.wait()
    stream = run.stream(0)
    assert stream["dropped"] >= 20 and stream["frames_out"] >= 15
    assert stream["frames_in"] == stream["frames_out"] + stream["dropped"]
    assert stream["latency_p95_s"] is not None and stream["latency_p95_s"] < 2.5

