"""Live cameras end to end against real RTSP servers on loopback.

Each scenario runs ``streampose run`` on one or two looping RTSP cameras and checks the
JSON lines (capture wall times), the log, the summary and /dev/shm. The camera is killed,
paused or restarted when the run has shown what the step needs (so many frames written, a
line in the log), and the run is ended with Ctrl-C once the outcome is visible: every wait
has a generous deadline, so a loaded machine is slower but not wrong. Nothing asserts a
speed (a rate, a latency, a count of frames in a fixed time): what is checked is what
happened (frames resumed, frames dropped instead of queued, a camera retried while the
other flowed). The fake backend keeps the model out of the timing, except where a slow
model is the point.
"""

from __future__ import annotations

import itertools
import json
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from streampose.sources import probe_video
from tests.live.camera import VTEST, RtspCamera, free_port
from tests.support.shm import shm_segments
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.usefixtures("rtsp_vtest")]

WAIT_S = 90.0       # deadline for each awaited event (a loaded machine is slow, not wrong)
SAFETY_S = 600.0    # --duration of the runs that end by Ctrl-C: only a safety net
STALL_S = 6.0       # --stall-timeout: long enough that a loaded machine is not a stall


class Run:
    """``streampose run`` in the background on some cameras; the log goes to a file."""

    def __init__(self, tmp: Path, urls: list[str], duration: float, *extra: str) -> None:
        self.tmp, self.jsonl, self.summary = tmp, tmp / "o.jsonl", tmp / "s.json"
        self.log = tmp / "stderr.txt"
        args = [sys.executable, "-m", "streampose", "run", *urls, "--model",
                "openpose-mnv2s-coco18.onnx", "--backend", "fake", "--json", str(self.jsonl),
                "--summary", str(self.summary), "--duration", str(duration), "--no-progress",
                "--stall-timeout", str(STALL_S), *extra]
        with self.log.open("w") as log:
            self.proc = subprocess.Popen(args, stderr=log, text=True)

    def wait(self, *, exit_code: int = 0, timeout: float = WAIT_S) -> str:
        """Wait for the end; check the exit code and that /dev/shm holds nothing of it."""
        self.proc.wait(timeout=timeout)
        stderr = self.log.read_text()
        assert self.proc.returncode == exit_code, stderr
        assert shm_segments(self.proc.pid) == []
        return stderr

    def interrupt(self) -> str:
        """Ctrl-C: the run finishes its outputs and exits 130."""
        self.proc.send_signal(signal.SIGINT)
        return self.wait(exit_code=130)

    def walls(self, stream: int) -> list[float]:
        """Capture times (time.time()) of the stream's frames written so far."""
        text = self.jsonl.read_text() if self.jsonl.exists() else ""
        lines = text.splitlines(keepends=True)
        return [x["wall"] for x in map(json.loads, (x for x in lines if x.endswith("\n")))
                if x["stream"] == stream]

    def await_frames(self, stream: int, count: int, *, after: float = 0.0,
                     what: str) -> list[float]:
        """Wait until ``count`` frames of ``stream`` captured after ``after`` are written."""
        def enough() -> list[float]:
            walls = [w for w in self.walls(stream) if w > after]
            return walls if len(walls) >= count else []
        return self._wait(enough, what)

    def await_log(self, text: str, *, what: str, count: int = 1) -> float:
        """Wait until ``text`` is in the run's log (``count`` times); the time it was seen."""
        self._check_running()
        self._wait(lambda: self.log.read_text().count(text) >= count, what)
        return time.time()

    def count(self, text: str) -> int:
        """How many times ``text`` is in the run's log so far."""
        return self.log.read_text().count(text)

    def _wait(self, condition: Callable[[], Any], what: str) -> Any:
        """``wait_until`` with the run's log in the failure message."""
        try:
            return wait_until(condition, timeout=WAIT_S, what=what)
        except pytest.fail.Exception as exc:
            tail = "\n".join(self.log.read_text().splitlines()[-30:])
            pytest.fail(f"{exc}\n--- the run's log (last 30 lines) ---\n{tail}")

    def frames(self, stream: int) -> list[int]:
        """Source frame indices of the stream's frames written so far."""
        text = self.jsonl.read_text() if self.jsonl.exists() else ""
        lines = text.splitlines(keepends=True)
        return [x["frame"] for x in map(json.loads, (x for x in lines if x.endswith("\n")))
                if x["stream"] == stream]

    def stream(self, i: int) -> dict:
        return json.loads(self.summary.read_text())["streams"][i]

    def _check_running(self) -> None:
        assert self.proc.poll() is None, self.log.read_text()


def _break_and_recover(tmp_path: Path, *, fault: str, heal: str, noticed: str) -> None:
    """Output flows, the camera fails (``fault``), the client logs ``noticed``, the camera
    comes back (``heal``), output resumes; the run counts a reconnect."""
    with RtspCamera(file=VTEST) as cam:
        run = Run(tmp_path, [cam.url], SAFETY_S)
        run.await_frames(0, 20, what=f"output before the {fault}")
        before = run.count(noticed)  # a loaded machine may have stalled already
        getattr(cam, fault)()
        run.await_log(noticed, count=before + 1, what=f"the client noticing the {fault}")
        healed = time.time()
        getattr(cam, heal)()
        run.await_frames(0, 15, after=healed, what=f"output resuming after the {heal}")
        run.interrupt()
    assert run.stream(0)["reconnects"] >= 1


def test_camera_killed_then_restarted_resumes(tmp_path: Path) -> None:
    _break_and_recover(tmp_path, fault="kill", heal="restart", noticed="reconnecting")


def test_stalled_camera_is_detected_and_reconnected(tmp_path: Path) -> None:
    """The camera freezes (SIGSTOP) until the client reports the stall (after the read
    timeout, min(5 s, STALL_S)), then resumes (SIGCONT)."""
    _break_and_recover(tmp_path, fault="pause", heal="resume", noticed="stalled")


def test_dead_camera_does_not_block_the_other(tmp_path: Path) -> None:
    """While camera 1 is down and being retried, camera 0's frames keep being written:
    40 of them captured after the client noticed, and the retries of camera 1 go on
    meanwhile (its reconnect messages keep coming). Events, not rates: a loaded machine
    is slower, but camera 0 must still flow."""
    with RtspCamera(file=VTEST) as cam0, RtspCamera(file=VTEST) as cam1:
        run = Run(tmp_path, [cam0.url, cam1.url], SAFETY_S,
                  "-o", str(tmp_path / "v_{stream}.mp4"))
        run.await_frames(0, 30, what="camera 0 before the kill")
        run.await_frames(1, 10, what="camera 1 before the kill")
        before = run.count("reconnecting")
        cam1.kill()
        noticed = run.await_log("reconnecting", count=before + 1,
                                what="the client noticing camera 1 is gone")
        retries = run.count("reconnecting")
        run.await_frames(0, 40, after=noticed, what="camera 0 after the kill")
        run.await_log("reconnecting", count=retries + 1, what="camera 1 retried again")
        run.interrupt()
    assert [w for w in run.walls(1) if w > noticed] == []
    for stream in (0, 1):  # fragmented recordings are playable
        assert probe_video(tmp_path / f"v_{stream}.mp4")[0] > 0


def test_refused_connection_is_retried_until_stopped(tmp_path: Path) -> None:
    url = f"rtsp://user:secret@127.0.0.1:{free_port()}/nothing"
    run = Run(tmp_path, [url], SAFETY_S)
    run.await_log("retrying", count=2, what="two refused attempts retried")
    stderr = run.interrupt()
    assert "Connection refused" in stderr and "not reachable yet; retrying" in stderr
    assert "secret" not in stderr and "user:***@" in stderr


def test_latency_stays_bounded_when_the_model_is_slower(tmp_path: Path) -> None:
    """The fake model takes 1 s a frame (at most 1 fps for a 10 fps camera): frames
    are dropped, not queued, so latency cannot grow without end. A queue would write
    every frame index in order and drop nothing; the bounded ring skips frames, counts
    them, and the skipped indices show in the JSON lines. (No speed is assumed: on a
    loaded machine the camera may be slow too, but not ten times slower, and the ~2 s of
    frames FFmpeg's open probes arrive at once, more than the 4-slot ring holds.)"""
    with RtspCamera(file=VTEST) as cam:
        run = Run(tmp_path, [cam.url], SAFETY_S, "--backend-option", "delay_ms=1000")
        run.await_frames(0, 12, what="12 frames through the slow model")
        run.interrupt()
    stream, frames = run.stream(0), run.frames(0)
    assert stream["frames_out"] == len(frames)
    assert stream["frames_in"] == stream["frames_out"] + stream["dropped"]
    skipped = frames[0] + sum(b - a - 1 for a, b in itertools.pairwise(frames))
    walls = run.walls(0)
    assert frames == sorted(frames) and 0 < skipped <= stream["dropped"], (
        stream, frames, [round(b - a, 2) for a, b in itertools.pairwise(walls)])
    assert stream["latency_p95_s"] is not None
