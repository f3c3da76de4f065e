"""FrameFit: frames into a stream's slots; larger ones scaled down, aspect kept, counted,
each change of size logged once."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from streampose.pose import Poses, get_skeleton
from streampose.sources import Frame
from streampose.stages.frame_fit import FrameFit, Placed, to_source
from streampose.transport.messages import FrameHeader


class Stage:
    name = "decode0"

    def __init__(self) -> None:
        self.counts: dict[str, int] = {}

    def count(self, name: str, n: int = 1) -> None:
        self.counts[name] = self.counts.get(name, 0) + n


def frame(width: int, height: int) -> Frame:
    return Frame(image=np.full((height, width, 3), 7, np.uint8), pts=0, index=0)


def test_frames_that_fit_pass_as_they_are(caplog: pytest.LogCaptureFixture) -> None:
    fit, stage, given = FrameFit(bound=(640, 480)), Stage(), frame(320, 240)
    assert fit(stage, given) is given and fit.placed is None
    assert fit(stage, frame(320, 240)).image.shape == (240, 320, 3)
    assert stage.counts == {} and not caplog.records and fit.placed is None


def test_a_larger_frame_is_scaled_down_aspect_kept_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    fit, stage = FrameFit(bound=(640, 480)), Stage()
    fit(stage, frame(320, 240))
    with caplog.at_level(logging.WARNING):
        shapes = [fit(stage, frame(1280, 720)).image.shape for _ in range(3)]
    assert shapes == [(360, 640, 3)] * 3
    assert fit.placed == Placed((1280, 720), (2.0, 2.0))
    assert stage.counts == {"rescaled": 3}
    assert [r.getMessage() for r in caplog.records] == [
        "decode0: frames are now 1280x720 (was 320x240); scaled to 640x360 to fit the "
        "640x480 frame buffers (--max-frame-size)"]


def test_a_change_of_size_that_fits_is_logged_once(caplog: pytest.LogCaptureFixture) -> None:
    fit, stage = FrameFit(bound=(640, 480)), Stage()
    with caplog.at_level(logging.WARNING):
        for size in [(320, 240), (320, 240), (640, 360), (640, 360), (320, 240)]:
            assert fit(stage, frame(*size)).image.shape[1::-1] == size
    assert [r.getMessage() for r in caplog.records] == [
        "decode0: frames are now 640x360 (was 320x240)",
        "decode0: frames are now 320x240 (was 640x360)"]


def test_too_wide_a_frame_gets_black_rows_below() -> None:
    fit = FrameFit(bound=(640, 480), max_aspect=2.0)
    image = fit(Stage(), frame(600, 100)).image
    assert image.shape == (300, 600, 3)
    assert (image[:100] == 7).all() and (image[100:] == 0).all()
    assert fit.placed == Placed((600, 100), (1.0, 1.0))  # its pixels unchanged


def test_the_scale_back_is_per_axis_as_the_picture_was_rounded() -> None:
    fit = FrameFit(bound=(100, 100))
    assert fit(Stage(), frame(301, 150)).image.shape == (49, 100, 3)
    assert fit.placed == Placed((301, 150), (3.01, 150 / 49))


def _nose(x: float, y: float) -> Poses:
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, 0] = (x, y, 0.8)
    return Poses(kp, np.ones(1, np.float32), get_skeleton("coco18"),
                 boxes=np.array([[x - 1, y - 1, x + 1, y + 1]], np.float32))


def test_poses_on_a_scaled_frame_go_back_to_the_source_s_pixels() -> None:
    header = FrameHeader(width=640, height=360, source_size=(1280, 720),
                         source_scale=(2.0, 2.0))
    back = to_source(_nose(100.0, 50.0), header)
    assert back.keypoints[0, 0].tolist() == pytest.approx([200.5, 100.5, 0.8])
    assert (back.keypoints[0, 1:] == 0).all()  # missing keypoints stay missing
    assert back.boxes is not None
    assert back.boxes[0].tolist() == pytest.approx([198.5, 98.5, 202.5, 102.5])
    edge = to_source(_nose(639.0, 359.0), header).keypoints[0, 0]  # the last pixel: the
    assert edge[:2].tolist() == pytest.approx([1278.5, 718.5])  # centre of the last two


def test_poses_on_a_frame_as_it_came_are_left_alone() -> None:
    poses = _nose(10.0, 20.0)
    assert to_source(poses, FrameHeader(width=640, height=360)) is poses
    padded = FrameHeader(width=600, height=300, source_size=(600, 100))
    assert to_source(poses, padded) is poses
