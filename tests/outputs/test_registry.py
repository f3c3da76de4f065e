"""The sink registry (streampose.outputs.registry): every output's check, its sinks made
in one place, and a new file output added by one registry entry alone."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path
from types import SimpleNamespace
from typing import IO, Any

import numpy as np
import pytest

from streampose import Pipeline, PipelineConfig
from streampose.config import BatchingConfig, ModelConfig, OutputsConfig, PerformanceConfig
from streampose.config.sections import ConsoleConfig, EventsConfig, MqttConfig
from streampose.console.sink import ConsoleSink
from streampose.errors import ConfigError, OutputError
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.factory import DEFAULT_FPS, EncoderSettings, StreamFacts
from streampose.outputs.images import ImageFolderSink
from streampose.outputs.jsonl import EventsSink, JsonLinesSink
from streampose.outputs.lock import OutputLocks, run_outputs
from streampose.outputs.mqtt import MqttSink
from streampose.outputs.openpose import OpenPoseJsonSink
from streampose.outputs.parts import concatenate, join_coco
from streampose.outputs.registry import (
    OUTPUTS,
    Output,
    SinkContext,
    camera_recordings,
    check_outputs,
    make_sinks,
)
from streampose.outputs.video import VideoSink
from streampose.pose import Poses
from tests.support.media import make_video
from tests.support.models import MODEL_NAME

ENCODER = EncoderSettings(preset="veryfast", crf=30, threads=2)


def config(outputs: OutputsConfig | None = None, **sections: Any) -> PipelineConfig:
    return PipelineConfig(sources=("a.mp4",), model=ModelConfig(path=Path("m.onnx")),
                          outputs=outputs or OutputsConfig(), **sections)


def sinks_for(outputs: OutputsConfig, streams: list[StreamFacts],
              encoder: EncoderSettings = ENCODER, **context: Any) -> list[Sink]:
    return make_sinks(SinkContext(config=config(outputs), streams=streams, encoder=encoder,
                                  **context))


def check(outputs: OutputsConfig, streams: list[StreamFacts]) -> None:
    check_outputs(config(outputs), streams)


def video(stem: str = "clip", *, live: bool = False, fps: Fraction | None = Fraction(10),
          size: tuple[int, int] = (64, 48), camera: str = "camera") -> StreamFacts:
    return StreamFacts(width=size[0], height=size[1], time_base=Fraction(1, 1000), fps=fps,
                       stem=stem, live=live, camera=camera)


def images(stem: str = "imgs") -> StreamFacts:
    return StreamFacts(width=96, height=64, time_base=Fraction(1, 25), stem=stem, images=True)


def test_a_stream_not_recorded_gets_no_annotated_sink(tmp_path: Path) -> None:
    facts = [StreamFacts(width=64, height=48, time_base=Fraction(1, 1000), camera=name,
                         record=record) for name, record in (("a", True), ("b", False))]
    outputs = OutputsConfig(video=str(tmp_path / "{camera}.mp4"))
    check(outputs, facts)
    [sink] = sinks_for(outputs, facts, ENCODER)
    assert isinstance(sink, VideoSink) and sink.path == tmp_path / "a.mp4"


def test_no_outputs_no_sinks() -> None:
    assert sinks_for(OutputsConfig(), [video()], ENCODER) == []


@pytest.mark.parametrize("live", [True, False])
def test_one_video_gets_one_video_sink_with_its_timing(tmp_path: Path, live: bool) -> None:
    out = tmp_path / "out.mp4"
    [sink] = sinks_for(OutputsConfig(video=str(out)), [video(live=live)], ENCODER)
    assert isinstance(sink, VideoSink) and sink.wants_image
    assert sink.stream == 0 and sink.path == out and sink.size == (64, 48)
    writer = sink._writer
    assert (writer.fps, writer.time_base) == (Fraction(10), Fraction(1, 1000))
    assert (writer.preset, writer.crf, writer.threads) == ("veryfast", 30, 2)
    assert writer.fragmented  # live or file: playable even if the run is killed
    assert not out.exists()  # nothing is created before the render stage opens it


def test_unknown_frame_rate_gets_the_default(tmp_path: Path) -> None:
    [sink] = sinks_for(OutputsConfig(video=str(tmp_path / "o.mp4")), [video(fps=None)],
                         ENCODER)
    assert sink._writer.fps == DEFAULT_FPS


def test_stream_placeholder_gives_one_video_per_source(tmp_path: Path) -> None:
    (tmp_path / "cam0").mkdir()
    (tmp_path / "cam1").mkdir()
    outputs = OutputsConfig(video=str(tmp_path / "cam{stream}" / "out.mp4"))
    sinks = sinks_for(outputs, [video("a", size=(64, 48)), video("b", size=(32, 24))],
                        ENCODER)
    assert [type(s) for s in sinks] == [VideoSink, VideoSink]
    assert [s.stream for s in sinks] == [0, 1]
    assert [s.path for s in sinks] == [tmp_path / "cam0" / "out.mp4",
                                       tmp_path / "cam1" / "out.mp4"]
    assert [s.size for s in sinks] == [(64, 48), (32, 24)]


def test_several_sources_without_placeholder_get_numbered_files(tmp_path: Path) -> None:
    sinks = sinks_for(OutputsConfig(video=str(tmp_path / "out.mp4")),
                        [video(), video(), video()], ENCODER)
    assert [s.path.name for s in sinks] == ["out_0.mp4", "out_1.mp4", "out_2.mp4"]


def test_a_folder_output_writes_images(tmp_path: Path) -> None:
    existing = tmp_path / "frames"
    existing.mkdir()
    for template in (f"{tmp_path / 'new'}/", str(existing)):
        [sink] = sinks_for(OutputsConfig(video=template), [video()], ENCODER)
        assert isinstance(sink, ImageFolderSink) and sink.wants_image
    assert not (tmp_path / "new").exists()  # created when the sink opens


def test_image_sources_need_a_folder(tmp_path: Path) -> None:
    outputs = OutputsConfig(video=str(tmp_path / "x.mp4"))
    with pytest.raises(ConfigError, match=r"x\.mp4: image sources are written to a folder"):
        sinks_for(outputs, [images()], ENCODER)
    with pytest.raises(ConfigError, match="folder"):  # one image source among videos
        sinks_for(OutputsConfig(video=str(tmp_path / "o{stream}.mp4")),
                    [video(), images()], ENCODER)
    [sink] = sinks_for(OutputsConfig(video=f"{tmp_path / 'annotated'}/"), [images()],
                         ENCODER)
    assert isinstance(sink, ImageFolderSink) and sink.folder == tmp_path / "annotated"


def test_data_sinks_follow_the_annotated_ones_in_order(tmp_path: Path) -> None:
    outputs = OutputsConfig(video=str(tmp_path / "o{stream}.mp4"), json=tmp_path / "o.jsonl",
                            coco=tmp_path / "coco.json", openpose_json=tmp_path / "op")
    sinks = sinks_for(outputs, [video("left"), video("right")], ENCODER)
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
        check(outputs, [video()])
    with pytest.raises(OutputError, match=what):
        sinks_for(outputs, [video()], ENCODER)


def test_a_bad_encoder_setting_is_refused_while_building(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="preset = 'bogus'"):
        sinks_for(OutputsConfig(video=str(tmp_path / "o.mp4")), [video()],
                    EncoderSettings(preset="bogus"))


def every_output(tmp_path: Path) -> PipelineConfig:
    """A configuration that turns every built-in output on."""
    outputs = OutputsConfig(video=str(tmp_path / "o{stream}.mp4"), json=tmp_path / "o.jsonl",
                            summary=tmp_path / "s.json", coco=tmp_path / "c.json",
                            openpose_json=tmp_path / "op")
    return config(outputs, events=EventsConfig(jsonl=tmp_path / "e.jsonl", fall={}),
                  mqtt=MqttConfig(url="mqtt://127.0.0.1:1/streampose"),
                  console=ConsoleConfig(serve="8080"))


def every_sink(tmp_path: Path, **context: Any) -> list[Sink]:
    link = SimpleNamespace(fps=2.0)  # a stand-in for the console's link: sinks only keep it
    return make_sinks(SinkContext(config=every_output(tmp_path), console=link,
                                  streams=[video("left", camera="l"),
                                           video("right", camera="r")], **context))


def test_every_sink_of_a_run_is_made_by_one_function_in_registry_order(tmp_path: Path) -> None:
    sinks = every_sink(tmp_path)
    assert [type(s) for s in sinks] == [VideoSink, VideoSink, JsonLinesSink, CocoResultsSink,
                                        OpenPoseJsonSink, ConsoleSink, ConsoleSink, EventsSink,
                                        MqttSink]
    assert [(s.stream, s.camera) for s in sinks if isinstance(s, ConsoleSink)] == \
        [(0, "l"), (1, "r")]  # one console sink per stream
    mqtt = sinks[-1]
    assert isinstance(mqtt, MqttSink) and mqtt.cameras == ["l", "r"]
    assert not any(tmp_path.iterdir())  # making sinks creates no file


def test_a_render_shard_gets_its_streams_and_its_parts(tmp_path: Path) -> None:
    sinks = every_sink(tmp_path, owned=[1], part=1)
    assert [s.stream for s in sinks if isinstance(s, VideoSink | ConsoleSink)] == [1, 1]
    paths = {type(s): getattr(s, "path", None) for s in sinks}
    assert paths[CocoResultsSink] == tmp_path / "c.json.part1"
    assert [s._writer.path for s in sinks if isinstance(s, JsonLinesSink | EventsSink)] == \
        [tmp_path / "o.jsonl.part1", tmp_path / "e.jsonl.part1"]


def test_the_descriptors_say_what_their_sinks_want(tmp_path: Path) -> None:
    cfg, link = every_output(tmp_path), SimpleNamespace(fps=2.0)
    context = SinkContext(config=cfg, streams=[video()], console=link)
    for output in OUTPUTS.active(cfg):
        if output.make is None:
            continue
        for sink in output.make(context, output.where(cfg)):
            assert (sink.wants_image, sink.wants_events) == (output.pixels, output.events), \
                output.flag


def test_spanning_files_are_joined_as_their_format_needs(tmp_path: Path) -> None:
    assert OUTPUTS.spanning(every_output(tmp_path)) == [
        (tmp_path / "o.jsonl", concatenate), (tmp_path / "c.json", join_coco),
        (tmp_path / "e.jsonl", concatenate)]
    assert OUTPUTS.spanning(config()) == []


def test_changing_seats_record_per_camera_not_through_the_registry(tmp_path: Path) -> None:
    template = str(tmp_path / "{camera}.mp4")
    seats = PipelineConfig(sources=(), seats=2, model=ModelConfig(path=Path("m.onnx")),
                           outputs=OutputsConfig(video=template))
    assert make_sinks(SinkContext(config=seats, streams=[video(), video()])) == []
    assert camera_recordings(seats) == template  # render opens them, per camera


def test_a_fixed_run_s_annotated_videos_are_sinks_made_at_the_start() -> None:
    fixed = config(outputs=OutputsConfig(video="out.mp4"))
    assert camera_recordings(fixed) is None


# -- a new file output: one registry entry, nothing else --------------------------------

class CsvSink(Sink):
    """The toy output: a line ``stream,frame,persons`` per frame, every stream in one file."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None

    def open(self) -> None:
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - in close()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        assert self._file is not None
        self._file.write(f"{meta.stream},{meta.frame},{len(poses)}\n")

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


def csv_output(path: Path) -> Output:
    return Output(flag="--csv", what="CSV output", setting=lambda config: path,
                  make=lambda context, where: [CsvSink(path=where)], spans=True)


FRAMES = (12, 7)


def run_config(tmp_path: Path, *, overwrite: bool = True, shards: str = "1") -> PipelineConfig:
    clips = [make_video(tmp_path / f"c{i}.mp4", frames=n) for i, n in enumerate(FRAMES)]
    return PipelineConfig(sources=tuple(str(c) for c in clips),
                          model=ModelConfig(path=MODEL_NAME, backend="fake"),
                          outputs=OutputsConfig(overwrite=overwrite),
                          batching=BatchingConfig(batch=2, max_wait_ms=5),
                          performance=PerformanceConfig(render_shards=shards))


def test_a_new_output_is_checked_for_writability(tmp_path: Path) -> None:
    cfg = run_config(tmp_path)
    with OUTPUTS.registered(csv_output(tmp_path / "missing" / "f.csv")), \
            pytest.raises(OutputError, match=r"CSV output .*f\.csv: folder .*missing does not"):
        Pipeline(cfg)
    assert all(o.flag != "--csv" for o in OUTPUTS)  # the registration is undone
    Pipeline(cfg)


def test_a_new_output_is_locked_and_not_overwritten(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    cfg = run_config(tmp_path, overwrite=False)
    with OUTPUTS.registered(csv_output(path)):
        assert ("--csv", path) in run_outputs(cfg, 2)
        with OutputLocks([("--csv", path)], refuse=True), \
                pytest.raises(OutputError, match=r"--csv .*f\.csv: another streampose run"):
            Pipeline(cfg).run()  # another run writes it
        path.write_text("kept\n")
        with pytest.raises(OutputError, match=r"--csv .*f\.csv: exists, and --no-overwrite"):
            Pipeline(cfg)
    assert path.read_text() == "kept\n"


def test_a_new_output_is_written_in_parts_by_render_shards_and_joined(tmp_path: Path) -> None:
    path = tmp_path / "f.csv"
    with OUTPUTS.registered(csv_output(path)):
        summary = Pipeline(run_config(tmp_path, shards="2")).run()
    assert {"render0", "render1"} <= {s["stage"] for s in summary.to_json()["stages"]}
    lines = [tuple(int(x) for x in line.split(",")) for line in path.read_text().splitlines()]
    # shard 0 (stream 0)'s part, then shard 1 (stream 1)'s: joined in shard order
    assert [(s, f) for s, f, _ in lines] == [(0, f) for f in range(FRAMES[0])] + \
        [(1, f) for f in range(FRAMES[1])]
    assert all(persons == 1 for _, _, persons in lines)  # the fake model's person
    assert sorted(p.name for p in tmp_path.iterdir() if p.suffix != ".mp4") == ["f.csv"]
