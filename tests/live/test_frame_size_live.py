"""A camera that is down when the run starts (RTSP test server started after it): sized
from its first frame, not a guess: recorded at its own 480x360, poses in its pixels, the
JSON saying its size at its first frame."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pytest

from streampose.sources.probe import probe_video
from tests.live.camera import RtspCamera, free_port
from tests.live.test_live_pipeline import SAFETY_S, Run
from tests.support.media import square_frame

pytestmark = [pytest.mark.live, pytest.mark.slow, pytest.mark.usefixtures("rtsp_vtest")]

SIZE = (480, 360)  # 4:3: a 16:9 guess would stretch it
CENTRE = (0.25, 0.5)


def _clip(path: Path) -> Path:
    """Two seconds of H.264 at 480x360, a bright square at CENTRE (the fake's person)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = SIZE[0], SIZE[1], "yuv420p"
        stream.options = {"g": "10"}
        for _ in range(20):
            image = square_frame(SIZE, CENTRE, 40)
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def test_a_camera_down_at_start_is_recorded_at_its_own_size(tmp_path: Path) -> None:
    video = tmp_path / "cam.mp4"
    camera = RtspCamera(file=_clip(tmp_path / "clip.mp4"), port=free_port())
    try:
        run = Run(tmp_path, [camera.url], SAFETY_S, "-o", str(video))
        run.await_log("retrying", what="the camera being retried while down")
        camera.start()
        run.await_frames(0, 10, what="frames once the camera is up")
        run.interrupt()
    finally:
        camera.close()
    records = [json.loads(line) for line in run.jsonl.read_text().splitlines()]
    assert (records[0]["width"], records[0]["height"]) == SIZE
    assert all("width" not in r for r in records[1:])
    for record in records:
        kp = np.array(record["persons"][0]["keypoints"], np.float32)
        found = kp[kp[:, 2] > 0]
        x, y = float(np.median(found[:, 0])), float(np.median(found[:, 1]))
        assert abs(x - CENTRE[0] * SIZE[0]) < 30 and abs(y - CENTRE[1] * SIZE[1]) < 60
    count, _, width, height = probe_video(video)
    assert (width, height) == SIZE and count == len(records)
