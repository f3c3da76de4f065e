"""streampose.outputs.factory: the annotated output's paths, and the encoder settings."""

from __future__ import annotations

from pathlib import Path

import pytest

from streampose.config.sections import PerformanceConfig
from streampose.outputs.factory import EncoderSettings, annotated_path


@pytest.mark.parametrize(("template", "streams", "expected"), [
    (None, 1, [None]),
    ("", 2, [None, None]),
    ("out.mp4", 1, ["out.mp4"]),
    ("out.mp4", 3, ["out_0.mp4", "out_1.mp4", "out_2.mp4"]),
    ("cam{stream}/out.mp4", 2, ["cam0/out.mp4", "cam1/out.mp4"]),
    ("out_{stream}.mp4", 1, ["out_0.mp4"]),
    ("annotated/", 2, ["annotated", "annotated"]),
])
def test_annotated_path(template: str | None, streams: int, expected: list[str | None]) -> None:
    paths = [annotated_path(template, i, streams) for i in range(streams)]
    assert paths == [None if e is None else Path(e) for e in expected]


def test_annotated_path_with_the_camera_name() -> None:
    assert annotated_path("rec/{camera}.mp4", 1, 3, "door") == Path("rec/door.mp4")
    assert annotated_path("{camera}_{stream}.mp4", 2, 3, "yard") == Path("yard_2.mp4")
    assert annotated_path("rec/{camera}.mp4", 1, 3) == Path("rec/stream1.mp4")
    assert annotated_path("out.mp4", 1, 3, "door") == Path("out_1.mp4")


def test_encoder_settings_from_the_performance_section() -> None:
    perf = PerformanceConfig(encoder_preset="fast", crf=18, encoder_threads=4)
    assert EncoderSettings.from_performance(perf) == EncoderSettings(preset="fast", crf=18,
                                                                     threads=4)
