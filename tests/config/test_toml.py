"""Pipeline files: the shipped ones load, paths resolve, mistakes are named."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
from pathlib import Path

import pytest

from streampose.cli import build_parser
from streampose.config import toml as configfile
from streampose.config.arguments import given_values
from streampose.config.build import build_config, merge_values
from streampose.config.fields import meta_of, options
from streampose.config.sections import (
    SECTIONS,
    BatchingConfig,
    DecoderThresholds,
    DrawConfig,
    LiveConfig,
    ModelConfig,
    OutputsConfig,
    PerformanceConfig,
    PipelineConfig,
    TrackingConfig,
)
from streampose.config.toml import SCHEMA, TOP_LEVEL, load_pipeline_file
from streampose.errors import ConfigError
from tests.support.shared import shared_file

PIPELINES = Path(__file__).resolve().parents[2] / "pipelines"
SHIPPED = sorted(PIPELINES.glob("*.toml"))


def write(folder: Path, text: str, name: str = "pipeline.toml") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


# --- the shipped files ----------------------------------------------------------------


def test_the_three_pipelines_are_shipped() -> None:
    names = {p.name for p in SHIPPED}
    assert {"file_to_video.toml", "rtsp_surveillance.toml", "multi_camera.toml"} <= names


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_pipeline_loads_into_a_valid_config(path: Path) -> None:
    values = load_pipeline_file(path)
    assert values["sources"] and values["model"]["path"].is_absolute()
    for key in ("video", "json", "summary"):
        if key in values.get("outputs", {}):
            assert Path(values["outputs"][key]).is_absolute()
    config = build_config(values, {})
    assert config.model.path == values["model"]["path"]
    assert config.sources == tuple(values["sources"])


@pytest.mark.parametrize("path", SHIPPED, ids=lambda p: p.stem)
def test_shipped_pipelines_document_every_key(path: Path) -> None:
    lines = path.read_text(encoding="utf-8").splitlines()
    settings = [line for line in lines if "=" in line and not line.lstrip().startswith("#")]
    undocumented = [line for line in settings
                    if "#" not in line and not line.startswith("sources")]
    assert not undocumented
    assert lines[0].startswith("#")


def test_file_to_video_reads_the_shared_video_and_model() -> None:
    video = shared_file("media/vtest.mp4")
    model = shared_file("models/yolo11n-pose.onnx")  # the wide-view configuration
    values = load_pipeline_file(PIPELINES / "file_to_video.toml")
    assert values["sources"] == [str(video)]
    assert values["model"]["path"] == model
    assert values["model"]["min_person_height"] == "11%" and values["motion"]["mode"] == "on"
    assert values["model"]["interval"] == 3
    assert {"video", "json", "summary"} <= set(values["outputs"])


def test_rtsp_surveillance_keeps_its_url_and_privacy_options() -> None:
    values = load_pipeline_file(PIPELINES / "rtsp_surveillance.toml")
    assert values["sources"] == ["rtsp://127.0.0.1:8554/cam0"]
    assert values["draw"]["blur_faces"] is True and values["draw"]["ids"] is True
    assert values["outputs"]["metrics_port"] == 9108 and values["live"]["reconnect"] is True
    assert values["live"]["rtsp_transport"] == "tcp" and "json" in values["outputs"]


def test_multi_camera_batches_across_cameras() -> None:
    values = load_pipeline_file(PIPELINES / "multi_camera.toml")
    assert 2 <= len(values["sources"]) <= 3
    assert all(s.startswith("rtsp://") for s in values["sources"])
    assert values["outputs"]["video"].endswith("cam_{stream}.mp4")
    assert values["batching"]["batch"] == 4 and values["batching"]["max_wait_ms"] == 20.0
    assert "json" in values["outputs"]


# --- paths ----------------------------------------------------------------------------


def test_relative_paths_are_resolved_against_the_file_folder(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "configs"
    write(folder, """
sources = ["clip.mp4", "../media/frames/*.jpg", "/abs/video.mp4"]
[model]
path = "models/net.onnx"
spec = "../specs/net.toml"
[outputs]
video = "out/cam_{stream}.mp4"
json = "out/poses.jsonl"
summary = "/abs/summary.json"
openpose_json = "out/openpose/"
""")
    monkeypatch.chdir(tmp_path)  # the working directory must not matter
    values = load_pipeline_file(Path("configs/pipeline.toml"))
    assert values["sources"] == [str(folder / "clip.mp4"),
                                 str(tmp_path / "media" / "frames" / "*.jpg"),
                                 os.path.normpath("/abs/video.mp4")]
    assert values["model"]["path"] == folder / "models" / "net.onnx"
    assert values["model"]["spec"] == tmp_path / "specs" / "net.toml"
    outputs = values["outputs"]
    assert outputs["video"] == str(folder / "out" / "cam_{stream}.mp4")
    assert outputs["json"] == folder / "out" / "poses.jsonl"
    assert outputs["summary"] == Path("/abs/summary.json")
    assert outputs["openpose_json"] == folder / "out" / "openpose"


def test_a_folder_output_keeps_its_trailing_separator(tmp_path: Path) -> None:
    path = write(tmp_path, '[outputs]\nvideo = "annotated/"\n')
    assert load_pipeline_file(path)["outputs"]["video"] == str(tmp_path / "annotated") + os.sep


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, '[model]\npath = "~/models/net.onnx"\n')
    assert load_pipeline_file(path)["model"]["path"] == \
        tmp_path / "home" / "models" / "net.onnx"


@pytest.mark.parametrize("source", [
    "rtsp://127.0.0.1:8554/cam0", "rtsps://user:pw@camera.local/stream1",
    "http://example.com/live.m3u8", "https://example.com/video.mp4", "udp://239.0.0.1:1234",
    "0", "/dev/video0"])
def test_urls_and_devices_are_left_as_they_are(tmp_path: Path, source: str) -> None:
    path = write(tmp_path, f'sources = ["{source}"]\n')
    assert load_pipeline_file(path)["sources"] == [source]


# --- types and values -----------------------------------------------------------------


def test_values_come_back_under_their_table_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, """
[batching]
max_wait_ms = 20
[outputs]
openpose_json = "op"
metrics_port = 9108
[performance]
crf = 28
[live]
reconnect = false
""")
    values = load_pipeline_file(path)
    assert values == {"batching": {"max_wait_ms": 20.0},
                      "outputs": {"openpose_json": tmp_path / "op", "metrics_port": 9108},
                      "performance": {"crf": 28}, "live": {"reconnect": False}}
    assert isinstance(values["batching"]["max_wait_ms"], float)  # an integer is a fine float


def test_the_interval_is_an_integer_or_auto(tmp_path: Path) -> None:
    assert load_pipeline_file(write(tmp_path, "[model]\ninterval = 2\n")) == \
        {"model": {"interval": 2}}
    assert load_pipeline_file(write(tmp_path, '[model]\ninterval = "auto"\n')) == \
        {"model": {"interval": "auto"}}


def test_the_smallest_person_is_pixels_or_a_share(tmp_path: Path) -> None:
    assert load_pipeline_file(write(tmp_path, "[model]\nmin_person_height = 40\n")) == \
        {"model": {"min_person_height": 40}}
    assert load_pipeline_file(write(tmp_path, '[model]\nmin_person_height = "11%"\n')) == \
        {"model": {"min_person_height": "11%"}}


@pytest.mark.parametrize(("text", "where", "expected"), [
    ('[batching]\nbatch = "4"', "[batching].batch", "an integer"),
    ('[model]\ninterval = "fast"', "[model].interval", "an integer or 'auto'"),
    ('[model]\ninterval = "2"', "[model].interval", "an integer or 'auto'"),
    ("[model]\ninterval = 1.5", "[model].interval", "an integer or 'auto'"),
    ('[model]\nmin_person_height = "abc"', "[model].min_person_height",
     "an integer in [4, 4096] or a percentage N% in [0.5%, 100%]"),
    ("[model]\nmin_person_height = 11.5", "[model].min_person_height",
     "an integer in [4, 4096] or a percentage N% in [0.5%, 100%]"),
    ('[model]\nmin_person_height = "150%"', "[model].min_person_height",
     "outside the allowed range [0.5%, 100%]"),
    ('[model]\nmin_person_height = "40"', "[model].min_person_height", "a percentage N%"),
    ("[batching]\nbatch = 4.5", "[batching].batch", "an integer"),
    ("[batching]\nbatch = true", "[batching].batch", "an integer"),
    ("[batching]\nmax_wait_ms = true", "[batching].max_wait_ms", "a number"),
    ('[batching]\nmax_wait_ms = "10"', "[batching].max_wait_ms", "a number"),
    ("[draw]\nids = 1", "[draw].ids", "true or false"),
    ('[draw]\nblur_faces = "yes"', "[draw].blur_faces", "true or false"),
    ("[model]\npath = 3", "[model].path", "path"),
    ('[model]\npath = ""', "[model].path", "path"),
    ("[model]\nbackend = 1", "[model].backend", "a string"),
    ('sources = "video.mp4"', "sources", "list of strings"),
    ("sources = []", "sources", "non-empty list"),
    ('sources = ["a.mp4", 2]', "sources", "list of strings"),
    ('[live]\nrtsp_transport = "http"', "[live].rtsp_transport", "'tcp', 'udp'"),
    ('[outputs.video]\npath = "x.mp4"', "[outputs].video", "a table"),
    ('model = "net.onnx"', "model", "must be a table"),
])
def test_wrong_types_are_named(tmp_path: Path, text: str, where: str, expected: str) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline_file(path)
    message = str(info.value)
    assert str(path) in message and where in message and expected in message


@pytest.mark.parametrize(("text", "named", "known"), [
    ('vidoe = "x.mp4"', "vidoe: unknown key", "known top-level keys: sources; tables: [model]"),
    ('[outputs]\nvidoe = "x.mp4"', "[outputs].vidoe: unknown key (did you mean 'video'?)",
     "known keys of [outputs]: video, json, summary, coco, openpose_json, metrics_port"),
    ("[output]\njson = 'x.jsonl'", "output: unknown key (did you mean 'outputs'?)",
     "[outputs]"),
    ("batch = 4", "batch: unknown key (it belongs in [batching])", "known top-level keys"),
    ("[model]\nbatch = 4", "[model].batch: unknown key (it belongs in [batching])",
     "known keys of [model]"),
    ('[draw]\nsources = ["a.mp4"]', "[draw].sources: unknown key (it belongs at the top "
     "level)", "known keys of [draw]: ids"),
])
def test_unknown_keys_are_named_with_the_known_ones(tmp_path: Path, text: str, named: str,
                                                    known: str) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline_file(path)
    message = str(info.value)
    assert message.startswith(f"{path}: ")
    assert named in message and known in message


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="not found") as info:
        load_pipeline_file(tmp_path / "nope.toml")
    assert "nope.toml" in str(info.value)
    assert info.value.exit_code == 2


def test_a_folder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        load_pipeline_file(tmp_path)


@pytest.mark.parametrize("content", [b"[model\npath = 1\n", b"batch = \n", b"\xff\xfe = 1\n"])
def test_invalid_toml_is_a_config_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "broken.toml"
    path.write_bytes(content)
    with pytest.raises(ConfigError, match="not a valid TOML file") as info:
        load_pipeline_file(path)
    assert str(path) in str(info.value)


def test_without_a_toml_parser_the_error_says_what_to_install(
        tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(configfile, "tomllib", None)
    with pytest.raises(ConfigError, match="tomli"):
        load_pipeline_file(write(tmp_path, "sources = ['a.mp4']\n"))


def test_an_empty_file_sets_nothing(tmp_path: Path) -> None:
    assert load_pipeline_file(write(tmp_path, "# nothing yet\n")) == {}


def test_the_decoder_and_backend_options_have_tables(tmp_path: Path) -> None:
    path = write(tmp_path, """
[model]
backend_options = {spin = true, delay_ms = 2}
[decoder]
peak_threshold = 0.1
subpixel = false
""")
    values = load_pipeline_file(path)
    assert values == {"model": {"backend_options": {"spin": True, "delay_ms": 2}},
                      "decoder": {"peak_threshold": 0.1, "subpixel": False}}
    config = build_config({**values, "sources": ["a.mp4"], "model": {
        **values["model"], "path": Path("m.onnx")}}, {})
    assert config.decoder.peak_threshold == 0.1 and config.decoder.subpixel is False
    assert config.model.backend_options == {"spin": True, "delay_ms": 2}


@pytest.mark.parametrize(("text", "message"), [
    ("[batching]\nbatch = 0", "--batch / [batching].batch: 0 is outside the allowed range "
                              "[1, 256]"),
    ("[live]\nslots = 1", "[live].slots: 1 is outside the allowed range [2, 256]"),
    ("[tracking]\nmin_similarity = 0.0", "--track-min-similarity / [tracking].min_similarity: "
                                         "0.0 is outside the allowed range (0, 1]"),
    ("[decoder]\nnms_radius = 0", "[decoder].nms_radius: 0 is outside the allowed range "
                                  "[1, inf)"),
    ("[performance]\ncrf = 52", "--crf / [performance].crf: 52 is outside the allowed range "
                                "[0, 51]"),
])
def test_values_out_of_range_name_the_file_the_option_and_the_range(
        tmp_path: Path, text: str, message: str) -> None:
    path = write(tmp_path, text + "\n")
    with pytest.raises(ConfigError) as info:
        load_pipeline_file(path)
    assert str(info.value) == f"{path}: {message}"


# --- merging with the command line ----------------------------------------------------


def test_the_command_line_wins() -> None:
    file_values = {"sources": ["/cfg/a.mp4"], "model": {"path": Path("/cfg/m.onnx")},
                   "batching": {"batch": 4, "max_wait_ms": 20.0}, "draw": {"ids": True}}
    cli_values = {"batching": {"batch": 1}, "draw": {"ids": False},
                  "outputs": {"video": "out.mp4"}}
    merged = merge_values(file_values, cli_values)
    assert merged == {"sources": ["/cfg/a.mp4"], "model": {"path": Path("/cfg/m.onnx")},
                      "batching": {"batch": 1, "max_wait_ms": 20.0}, "draw": {"ids": False},
                      "outputs": {"video": "out.mp4"}}
    assert file_values["batching"]["batch"] == 4  # inputs are not modified
    config = build_config(file_values, cli_values)
    assert (config.batching.batch, config.batching.max_wait_ms) == (1, 20.0)
    assert config.draw.ids is False and config.outputs.video == "out.mp4"
    assert config.sources == ("/cfg/a.mp4",)


@pytest.mark.parametrize(("cli_sources", "expected"), [
    (None, ["/cfg/a.mp4"]), ([], ["/cfg/a.mp4"]), (["b.mp4"], ["b.mp4"]),
    (["b.mp4", "c.mp4"], ["b.mp4", "c.mp4"])])
def test_sources_on_the_command_line_replace_the_file_list(cli_sources, expected) -> None:
    merged = merge_values({"sources": ["/cfg/a.mp4"]}, {"sources": cli_sources})
    assert merged["sources"] == expected
    argv = ["run", *(cli_sources or []), "--model", "m.onnx"]
    config = build_config({"sources": ["/cfg/a.mp4"]}, given_values(parse(argv)))
    assert config.sources == tuple(expected)


def test_options_not_given_do_not_override() -> None:
    given = given_values(parse(["run", "--no-reconnect"]))
    assert given == {"live": {"reconnect": False}}
    config = build_config({"sources": ["/cfg/a.mp4"],
                           "model": {"path": Path("/cfg/m.onnx"), "threads": 2},
                           "outputs": {"json": Path("/cfg/p.jsonl")}}, given)
    assert config.model.threads == 2 and config.outputs.json == Path("/cfg/p.jsonl")
    assert config.live.reconnect is False


def test_an_unknown_table_from_a_caller_is_a_config_error() -> None:
    with pytest.raises(ConfigError, match="bogus: not a pipeline option"):
        build_config({"bogus": {}}, {})
    with pytest.raises(ConfigError, match=r"\[batching\]: .*'size'"):
        build_config({"sources": ["a.mp4"], "batching": {"size": 2}}, {})


# --- the schema ----------------------------------------------------------------------


def test_schema_tables_are_the_sections() -> None:
    assert set(SCHEMA) == {TOP_LEVEL, "model", "batching", "outputs", "draw", "live",
                           "tracking", "performance", "decoder", "keypoints", "console", "events",
                           "mqtt", "threads", "tiles", "motion"}
    assert set(SCHEMA) - {TOP_LEVEL} == set(SECTIONS)
    assert all(section.table == table for table, section in SECTIONS.items())


def test_every_field_is_a_key_of_its_table() -> None:
    """One option = one edit: a field is a pipeline-file key without anything else
    (but ``--models-dir``, the command line's folder, searched before [model].dir)."""
    for table, section in SECTIONS.items():
        assert all(meta_of(f) is not None for f in dataclasses.fields(section)), table
        fields = [f.name for f in dataclasses.fields(section) if meta_of(f).toml]
        assert list(SCHEMA[table]) == fields, table
    assert [(o.table, o.name) for s in SECTIONS.values() for o in options(s)
            if not o.meta.toml] == [("model", "models_dir")]


def test_today_s_keys_are_all_known() -> None:
    keys = {
        "model": "path spec weights backend device device_ops threads height",
        "batching": "batch max_wait_ms",
        "outputs": "video json summary coco openpose_json metrics_port metrics_host",
        "tracking": "enabled", "draw": "ids boxes blur_faces min_confidence",
        "live": "rtsp_transport open_timeout_s read_timeout_s stall_timeout_s reconnect "
                "duration_s",
        "performance": "postprocess_workers decode_threads encoder_preset crf max_frames"}
    for table, names in keys.items():
        assert set(names.split()) <= set(SCHEMA[table]), table


# --- round trips ---------------------------------------------------------------------


def test_a_config_written_as_toml_reads_back_the_same(tmp_path: Path) -> None:
    config = PipelineConfig(
        sources=(str(tmp_path / "a.mp4"), "rtsp://cam/1"),
        model=ModelConfig(path=tmp_path / "m.onnx", backend="torch", threads=3,
                          backend_options={"spin": True}),
        batching=BatchingConfig(batch=8, max_wait_ms=2.5),
        outputs=OutputsConfig(video=str(tmp_path / "cam_{stream}.mp4"), metrics_port=9000),
        draw=DrawConfig(ids=False, min_confidence=0.3),
        tracking=TrackingConfig(max_age=30, velocity_smoothing=0.0),
        live=LiveConfig(rtsp_transport="udp", slots=8, duration_s=12.0),
        performance=PerformanceConfig(crf=30, frame_slots=16),
        decoder=DecoderThresholds(paf_samples=5, subpixel=False))
    path = write(tmp_path, to_toml(config))
    assert build_config(load_pipeline_file(path), {}) == config


def test_every_default_written_as_toml_reads_back_the_same(tmp_path: Path) -> None:
    lines = [f'sources = ["{tmp_path / "a.mp4"}"]']
    for table, section in SECTIONS.items():
        lines.append(f"[{table}]")
        lines += [f"{opt.name} = {toml_value(opt.default)}" for opt in options(section)
                  if opt.default is not None]
    lines.insert(2, f'path = "{tmp_path / "m.onnx"}"')
    config = build_config(load_pipeline_file(write(tmp_path, "\n".join(lines) + "\n")), {})
    assert config == PipelineConfig(sources=(str(tmp_path / "a.mp4"),),
                                    model=ModelConfig(path=tmp_path / "m.onnx"))


def to_toml(config: PipelineConfig) -> str:
    lines = [f"sources = [{', '.join(toml_value(s) for s in config.sources)}]"]
    for table in SECTIONS:
        section = getattr(config, table)
        lines.append(f"[{table}]")
        lines += [f"{opt.name} = {toml_value(getattr(section, opt.name))}"
                  for opt in options(type(section)) if getattr(section, opt.name) is not None]
    return "\n".join(lines) + "\n"


def toml_value(value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k} = {toml_value(v)}" for k, v in value.items()) + "}"
    if isinstance(value, str | Path):
        return json.dumps(str(value))
    if isinstance(value, tuple | list):
        return "[" + ", ".join(toml_value(v) for v in value) + "]"
    return repr(value)


def parse(argv: list[str]) -> argparse.Namespace:
    return build_parser().parse_args(argv)


@pytest.mark.parametrize(("written", "kept"), [
    ("openpose-mnthin-coco18", True), ("lightweight-openpose", True), ("m.onnx", False),
    ("models/m", False)])
def test_a_model_name_is_kept_a_path_is_resolved(tmp_path: Path, written: str,
                                                 kept: bool) -> None:
    file = tmp_path / "p.toml"
    file.write_text(f'sources = ["a.mp4"]\n[model]\npath = "{written}"\ndir = "models"\n')
    model = load_pipeline_file(file)["model"]
    assert model["path"] == (Path(written) if kept else tmp_path / written)
    assert model["dir"] == tmp_path / "models"
