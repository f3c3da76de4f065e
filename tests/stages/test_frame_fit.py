"""FrameFit: frames into a stream's slots; larger ones scaled down, aspect kept, counted,
each change of size logged once."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from streampose.sources import Frame
from streampose.stages.frame_fit import FrameFit


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
    assert fit(stage, given) is given
    assert fit(stage, frame(320, 240)).image.shape == (240, 320, 3)
    assert stage.counts == {} and not caplog.records


def test_a_larger_frame_is_scaled_down_aspect_kept_counted_and_logged_once(
        caplog: pytest.LogCaptureFixture) -> None:
    fit, stage = FrameFit(bound=(640, 480)), Stage()
    fit(stage, frame(320, 240))
    with caplog.at_level(logging.WARNING):
        shapes = [fit(stage, frame(1280, 720)).image.shape for _ in range(3)]
    assert shapes == [(360, 640, 3)] * 3
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
