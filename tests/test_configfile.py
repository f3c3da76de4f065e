"""Pipeline files: the shipped ones load, paths resolve, mistakes are named."""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import pytest

from streampose import configfile
from streampose.cli import build_parser
from streampose.config import PipelineConfig
from streampose.configfile import SCHEMA, TOP_LEVEL, load_pipeline_file, merge_cli
from streampose.errors import ConfigError
from tests.helpers import shared_file

PIPELINES = Path(__file__).resolve().parents[1] / "pipelines"
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
    assert values["sources"] and values["model"].is_absolute()
    for dest in ("video_out", "json_out", "summary_out"):
        if dest in values:
            assert Path(values[dest]).is_absolute()
    known = {f.name for f in dataclasses.fields(PipelineConfig)}
    config = PipelineConfig(**{k: tuple(v) if k == "sources" else v
                               for k, v in values.items() if k in known})
    assert config.model == values["model"]


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
    model = shared_file("models/openpose-mnv2s-coco18.onnx")
    values = load_pipeline_file(PIPELINES / "file_to_video.toml")
    assert values["sources"] == [str(video)]
    assert values["model"] == model
    assert {"video_out", "json_out", "summary_out"} <= set(values)


def test_rtsp_surveillance_keeps_its_url_and_privacy_options() -> None:
    values = load_pipeline_file(PIPELINES / "rtsp_surveillance.toml")
    assert values["sources"] == ["rtsp://127.0.0.1:8554/cam0"]
    assert values["blur_faces"] is True and values["ids"] is True
    assert values["metrics_port"] == 9108 and values["reconnect"] is True
    assert values["rtsp_transport"] == "tcp" and "json_out" in values


def test_multi_camera_batches_across_cameras() -> None:
    values = load_pipeline_file(PIPELINES / "multi_camera.toml")
    assert 2 <= len(values["sources"]) <= 3
    assert all(s.startswith("rtsp://") for s in values["sources"])
    assert values["video_out"].endswith("cam_{stream}.mp4")
    assert values["batch"] == 4 and values["max_wait_ms"] == 20.0
    assert "json_out" in values


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
    assert values["model"] == folder / "models" / "net.onnx"
    assert values["model_spec"] == tmp_path / "specs" / "net.toml"
    assert values["video_out"] == str(folder / "out" / "cam_{stream}.mp4")
    assert values["json_out"] == folder / "out" / "poses.jsonl"
    assert values["summary_out"] == Path("/abs/summary.json")
    assert values["openpose_dir"] == folder / "out" / "openpose"


def test_a_folder_output_keeps_its_trailing_separator(tmp_path: Path) -> None:
    path = write(tmp_path, '[outputs]\nvideo = "annotated/"\n')
    assert load_pipeline_file(path)["video_out"] == str(tmp_path / "annotated") + os.sep


def test_home_is_expanded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    path = write(tmp_path, '[model]\npath = "~/models/net.onnx"\n')
    assert load_pipeline_file(path)["model"] == tmp_path / "home" / "models" / "net.onnx"


@pytest.mark.parametrize("source", [
    "rtsp://127.0.0.1:8554/cam0", "rtsps://user:pw@camera.local/stream1",
    "http://example.com/live.m3u8", "https://example.com/video.mp4", "udp://239.0.0.1:1234",
    "0", "/dev/video0"])
def test_urls_and_devices_are_left_as_they_are(tmp_path: Path, source: str) -> None:
    path = write(tmp_path, f'sources = ["{source}"]\n')
    assert load_pipeline_file(path)["sources"] == [source]


# --- types and values -----------------------------------------------------------------


def test_values_come_back_under_their_cli_dest(tmp_path: Path) -> None:
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
    assert values == {"max_wait_ms": 20.0, "openpose_dir": tmp_path / "op",
                      "metrics_port": 9108, "encoder_crf": 28, "reconnect": False}
    assert isinstance(values["max_wait_ms"], float)  # an integer is a fine float


@pytest.mark.parametrize(("text", "where", "expected"), [
    ('[batching]\nbatch = "4"', "[batching].batch", "an integer"),
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


# --- merging with the command line ----------------------------------------------------


def test_the_command_line_wins() -> None:
    file_values = {"sources": ["/cfg/a.mp4"], "batch": 4, "ids": True, "max_wait_ms": 20.0}
    cli_values = {"batch": 1, "ids": False, "video_out": "out.mp4"}
    merged = merge_cli(file_values, cli_values)
    assert merged == {"sources": ["/cfg/a.mp4"], "batch": 1, "ids": False,
                      "max_wait_ms": 20.0, "video_out": "out.mp4"}
    assert file_values["batch"] == 4  # inputs are not modified


@pytest.mark.parametrize(("cli_sources", "expected"), [
    (None, ["/cfg/a.mp4"]), ([], ["/cfg/a.mp4"]), (["b.mp4"], ["b.mp4"]),
    (["b.mp4", "c.mp4"], ["b.mp4", "c.mp4"])])
def test_sources_on_the_command_line_replace_the_file_list(cli_sources, expected) -> None:
    merged = merge_cli({"sources": ["/cfg/a.mp4"]}, {"sources": cli_sources})
    assert merged["sources"] == expected


def test_options_not_given_do_not_override() -> None:
    merged = merge_cli({"threads": 2, "json_out": Path("/cfg/p.jsonl")},
                       {"threads": None, "json_out": None, "reconnect": False})
    assert merged == {"threads": 2, "json_out": Path("/cfg/p.jsonl"), "reconnect": False}


# --- the schema ----------------------------------------------------------------------


def test_schema_dests_are_unique_and_tables_are_named() -> None:
    dests = [key.dest for keys in SCHEMA.values() for key in keys.values()]
    assert len(dests) == len(set(dests))
    assert set(SCHEMA) == {TOP_LEVEL, "model", "batching", "outputs", "draw", "live",
                           "tracking",
                           "performance"}


def test_every_schema_dest_is_a_cli_option() -> None:
    args = build_parser().parse_args(["run", "video.mp4", "--model", "net.onnx"])
    missing = sorted({key.dest for keys in SCHEMA.values() for key in keys.values()}
                     - set(vars(args)))
    assert not missing, f"`streampose run` has no option for: {', '.join(missing)}"
