"""Cameras keep their real size (RTSP test servers): one that is down when the run starts
is sized from its first frame, not a guess (recorded at its own 480x360, poses in its
pixels, the JSON saying its size at its first frame); one that comes back from a
reconnect at a larger size keeps every pixel: logged once, the recording continued in a
second segment at the new size, the JSON saying the new size."""

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


def _clip(path: Path, size: tuple[int, int] = SIZE) -> Path:
    """Two seconds of H.264 at ``size``, a bright square at CENTRE (the fake's person)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=10)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        stream.options = {"g": "10"}
        for _ in range(20):
            image = square_frame(size, CENTRE, size[1] // 9)
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
    records = _records(run)
    assert (records[0]["width"], records[0]["height"]) == SIZE
    assert all("width" not in r for r in records[1:])
    _assert_at_the_square(records, [SIZE] * len(records))
    count, _, width, height = probe_video(video)
    assert (width, height) == SIZE and count == len(records)


def test_a_camera_back_at_a_larger_size_keeps_its_pixels(tmp_path: Path) -> None:
    video, port, large = tmp_path / "cam.mp4", free_port(), (640, 480)
    with RtspCamera(file=_clip(tmp_path / "small.mp4"), port=port) as small:
        run = Run(tmp_path, [small.url], SAFETY_S, "-o", str(video))
        run.await_frames(0, 10, what="frames at the first size")
    back = RtspCamera(file=_clip(tmp_path / "large.mp4", large), port=port)
    try:
        back.start()
        run.await_log("frames are now 640x480 (was 480x360)", what="the new size logged")
        run.await_frames(0, len(_records(run)) + 10, what="frames at the new size")
        log = run.interrupt()
    finally:
        back.close()
    assert log.count("frames are now") == 1
    records = _records(run)
    changed = [i for i, r in enumerate(records) if "width" in r]
    assert len(changed) == 1 and (records[changed[0]]["width"],
                                  records[changed[0]]["height"]) == large
    first = changed[0]
    _assert_at_the_square(records, [SIZE] * first + [large] * (len(records) - first))
    second = tmp_path / "cam-part2-640x480.mp4"
    assert probe_video(video)[::2] == (first, SIZE[0])
    assert probe_video(second)[::2] == (len(records) - first, large[0])
    render = next(s for s in json.loads(run.summary.read_text())["stages"]
                  if s["stage"].startswith("render"))
    assert render["video_segments"] == {"0": [str(video), str(second)]}


def _records(run: Run) -> list[dict]:
    lines = run.jsonl.read_text().splitlines(keepends=True) if run.jsonl.exists() else []
    return [json.loads(line) for line in lines if line.endswith("\n")]


def _assert_at_the_square(records: list[dict], sizes: list[tuple[int, int]]) -> None:
    """Each frame's person at the square, in the pixels of that frame's size."""
    for record, (width, height) in zip(records, sizes, strict=True):
        kp = np.array(record["persons"][0]["keypoints"], np.float32)
        found = kp[kp[:, 2] > 0]
        x, y = float(np.median(found[:, 0])), float(np.median(found[:, 1]))
        assert abs(x - CENTRE[0] * width) < width / 16, (record["frame"], x, width)
        assert abs(y - CENTRE[1] * height) < height / 6, (record["frame"], y, height)
