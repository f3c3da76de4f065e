"""The streaming Python API on a live RTSP camera with a slow caller: the results it has no
room for are dropped and counted, so what it gets stays recent; leaving stops the run.

No speed is asserted: the caller is made much slower than the camera (10 fps against
2 results a second), and the bound on how old its results are is generous against what
a queue of every frame would reach by the end (most of the time spent reading).
"""

from __future__ import annotations

import itertools
import signal
import subprocess
import sys
import time

import pytest

import streampose
from tests.live import camera as live
from tests.support.models import MODEL_NAME
from tests.support.shared import ROOT, shared_file
from tests.support.shm import shm_segments
from tests.support.signals import default_interrupt

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.usefixtures("rtsp_vtest")]

camera = live.camera  # fixtures: a started RTSP camera looping vtest at 10 fps
make_camera = live.make_camera

CALLER_S = 0.5  # the caller's time per result: five frames of the 10 fps camera
TAKEN = 30      # results read: 15 s, in which the camera sends about 150 frames
MAX_LAG_S = 6.0  # an unbounded queue would be about 12 s behind by the end
STOP_S = 60.0
SAMPLE_STOP_S = 180.0  # the sample with the real model, on a machine loaded by stress-ng


def test_a_slow_caller_gets_recent_results_and_the_drops_counted(
        camera: live.RtspCamera) -> None:
    results = streampose.stream(camera.url, model=MODEL_NAME, backend="fake", buffer=2,
                                stall_timeout=10.0)
    got, lags = [], []
    with results:
        for result in results:
            lags.append(time.time() - result.wall)
            got.append(result)
            if len(got) == TAKEN:
                break
            time.sleep(CALLER_S)
        left = time.monotonic()
    stopped_s = time.monotonic() - left
    told = sum(r.dropped for r in got)
    assert told > TAKEN  # most of the camera's frames were not waited for
    for before, after in itertools.pairwise(got):  # each drop is a frame missing in between
        assert after.frame - before.frame - 1 >= after.dropped >= 0
    assert max(lags[-5:]) < MAX_LAG_S, lags
    summary = results.summary
    assert summary is not None
    assert summary.streams[0]["stream_dropped"] == results.dropped[0] >= told
    assert stopped_s < STOP_S
    assert shm_segments() == []


def test_count_people_sample_counts_a_live_camera_until_ctrl_c(
        camera: live.RtspCamera) -> None:
    model = shared_file(f"models/{MODEL_NAME}")
    proc = subprocess.Popen([sys.executable, str(ROOT / "samples" / "count_people.py"),
                             camera.url, "--model", str(model), "--every", "0.5"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            preexec_fn=default_interrupt)
    assert proc.stdout is not None
    line = proc.stdout.readline()  # the first count: results are flowing
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=SAMPLE_STOP_S)
    camera_name, count = line.strip().split(": ")
    assert camera_name.endswith("cam0") and int(count) >= 0, (line, err)
    assert proc.returncode == 130 and "Traceback" not in err, err
    assert shm_segments(proc.pid) == []
