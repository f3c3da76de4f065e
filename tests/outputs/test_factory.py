"""streampose.outputs.factory: which sinks a run gets, and the checks made before any start."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import pytest

from streampose.config.sections import OutputsConfig, PerformanceConfig
from streampose.errors import ConfigError, OutputError
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.factory import (
    DEFAULT_FPS,
    EncoderSettings,
    StreamFacts,
    annotated_path,
    build_sinks,
    check_outputs,
)
from streampose.outputs.images import ImageFolderSink
from streampose.outputs.jsonl import JsonLinesSink
from streampose.outputs.openpose import OpenPoseJsonSink
from streampose.outputs.video import VideoSink

ENCODER = EncoderSettings(preset="veryfast", crf=30, threads=2)


def video(stem: str = "clip", *, live: bool = False, fps: Fraction | None = Fraction(10),
          size: tuple[int, int] = (64, 48)) -> StreamFacts:
    return StreamFacts(width=size[0], height=size[1], time_base=Fraction(1, 1000), fps=fps,
                       stem=stem, live=live)


def images(stem: str = "imgs") -> StreamFacts:
    return StreamFacts(width=96, height=64, time_base=Fraction(1, 25), stem=stem, images=True)


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


def test_a_stream_not_recorded_gets_no_annotated_sink(tmp_path: Path) -> None:
    facts = [StreamFacts(width=64, height=48, time_base=Fraction(1, 1000), camera=name,
                         record=record) for name, record in (("a", True), ("b", False))]
    outputs = OutputsConfig(video=str(tmp_path / "{camera}.mp4"))
    check_outputs(outputs, facts)
    [sink] = build_sinks(outputs, facts, ENCODER)
    assert isinstance(sink, VideoSink) and sink.path == tmp_path / "a.mp4"


def test_no_outputs_no_sinks() -> None:
    assert build_sinks(OutputsConfig(), [video()], ENCODER) == []


@pytest.mark.parametrize("live", [True, False])
def test_one_video_gets_one_video_sink_with_its_timing(tmp_path: Path, live: bool) -> None:
    out = tmp_path / "out.mp4"
    [sink] = build_sinks(OutputsConfig(video=str(out)), [video(live=live)], ENCODER)
    assert isinstance(sink, VideoSink) and sink.wants_image
    assert sink.stream == 0 and sink.path == out and sink.size == (64, 48)
    writer = sink._writer
    assert (writer.fps, writer.time_base) == (Fraction(10), Fraction(1, 1000))
    assert (writer.preset, writer.crf, writer.threads) == ("veryfast", 30, 2)
    assert writer.fragmented  # live or file: playable even if the run is killed
    assert not out.exists()  # nothing is created before the render stage opens it


def test_unknown_frame_rate_gets_the_default(tmp_path: Path) -> None:
    [sink] = build_sinks(OutputsConfig(video=str(tmp_path / "o.mp4")), [video(fps=None)],
                         ENCODER)
    assert sink._writer.fps == DEFAULT_FPS


def test_stream_placeholder_gives_one_video_per_source(tmp_path: Path) -> None:
    (tmp_path / "cam0").mkdir()
    (tmp_path / "cam1").mkdir()
    outputs = OutputsConfig(video=str(tmp_path / "cam{stream}" / "out.mp4"))
    sinks = build_sinks(outputs, [video("a", size=(64, 48)), video("b", size=(32, 24))],
                        ENCODER)
    assert [type(s) for s in sinks] == [VideoSink, VideoSink]
    assert [s.stream for s in sinks] == [0, 1]
    assert [s.path for s in sinks] == [tmp_path / "cam0" / "out.mp4",
                                       tmp_path / "cam1" / "out.mp4"]
    assert [s.size for s in sinks] == [(64, 48), (32, 24)]


def test_several_sources_without_placeholder_get_numbered_files(tmp_path: Path) -> None:
    sinks = build_sinks(OutputsConfig(video=str(tmp_path / "out.mp4")),
                        [video(), video(), video()], ENCODER)
    assert [s.path.name for s in sinks] == ["out_0.mp4", "out_1.mp4", "out_2.mp4"]


def test_a_folder_output_writes_images(tmp_path: Path) -> None:
    existing = tmp_path / "frames"
    existing.mkdir()
    for template in (f"{tmp_path / 'new'}/", str(existing)):
        [sink] = build_sinks(OutputsConfig(video=template), [video()], ENCODER)
        assert isinstance(sink, ImageFolderSink) and sink.wants_image
    assert not (tmp_path / "new").exists()  # created when the sink opens


def test_image_sources_need_a_folder(tmp_path: Path) -> None:
    outputs = OutputsConfig(video=str(tmp_path / "x.mp4"))
    with pytest.raises(ConfigError, match=r"x\.mp4: image sources are written to a folder"):
        build_sinks(outputs, [images()], ENCODER)
    with pytest.raises(ConfigError, match="folder"):  # one image source among videos
        build_sinks(OutputsConfig(video=str(tmp_path / "o{stream}.mp4")),
                    [video(), images()], ENCODER)
    [sink] = build_sinks(OutputsConfig(video=f"{tmp_path / 'annotated'}/"), [images()],
                         ENCODER)
    assert isinstance(sink, ImageFolderSink) and sink.folder == tmp_path / "annotated"


def test_data_sinks_follow_the_annotated_ones_in_order(tmp_path: Path) -> None:
    outputs = OutputsConfig(video=str(tmp_path / "o{stream}.mp4"), json=tmp_path / "o.jsonl",
                            coco=tmp_path / "coco.json", openpose_json=tmp_path / "op")
    sinks = build_sinks(outputs, [video("left"), video("right")], ENCODER)
    assert [type(s) for s in sinks] == [VideoSink, VideoSink, JsonLinesSink, CocoResultsSink,
                                        OpenPoseJsonSink]
    assert sinks[-1].stems == ["left", "right"]
    assert not any(tmp_path.iterdir())  # building creates no file


@pytest.mark.parametrize(("field", "what"), [
    ("video", "video output"), ("json", "JSON lines output"), ("summary", "summary"),
    ("coco", "COCO results"),
])
def test_unwritable_outputs_are_refused_before_anything_starts(tmp_path: Path, field: str,
                                                               what: str) -> None:
    target = tmp_path / "missing" / "out.file"
    value = str(target) if field == "video" else target
    outputs = OutputsConfig(**{field: value})
    with pytest.raises(OutputError, match=f"{what} .*out.file: folder .*missing does not"):
        check_outputs(outputs, [video()])
    with pytest.raises(OutputError, match=what):
        build_sinks(outputs, [video()], ENCODER)


def test_a_bad_encoder_setting_is_refused_while_building(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="preset = 'bogus'"):
        build_sinks(OutputsConfig(video=str(tmp_path / "o.mp4")), [video()],
                    EncoderSettings(preset="bogus"))


def test_encoder_settings_from_the_performance_section() -> None:
    perf = PerformanceConfig(encoder_preset="fast", crf=18, encoder_threads=4)
    assert EncoderSettings.from_performance(perf) == EncoderSettings(preset="fast", crf=18,
                                                                     threads=4)
