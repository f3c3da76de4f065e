"""Config sections: validation from the option metadata, and the generated command line."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path
from typing import Any

import pytest

from streampose.cli import build_parser
from streampose.config.arguments import cli_options, given_values
from streampose.config.build import build_config
from streampose.config.fields import Option, options
from streampose.config.sections import (
    SECTIONS,
    BatchingConfig,
    DecoderThresholds,
    DrawConfig,
    KeypointThresholds,
    LiveConfig,
    ModelConfig,
    MotionConfig,
    OutputsConfig,
    PerformanceConfig,
    PipelineConfig,
    TilesConfig,
    TrackingConfig,
)
from streampose.errors import ConfigError
from streampose.pose.tracking import PoseTracker

# `streampose run`'s options before the config was generated from the sections.
TODAY = ("--output", "-o", "--json", "--coco", "--openpose-json", "--model", "--model-spec",
         "--backend", "--device", "--weights", "--threads", "--backend-option", "--device-ops",
         "--height", "--batch", "--max-wait-ms", "--max-frames", "--summary",
         "--postprocess-workers", "--decode-threads", "--encoder-preset", "--crf",
         "--no-tracking", "--no-ids", "--boxes", "--blur-faces", "--min-confidence",
         "--rtsp-transport", "--open-timeout", "--read-timeout", "--stall-timeout",
         "--no-reconnect", "--duration", "--metrics-port", "--metrics-host", "--config",
         "--no-progress", "--log-level")
# Added since: COCO image ids by file name (issue 10); refuse to overwrite (issue 14).
ADDED = ("--coco-ids", "--no-overwrite", "--serve", "--serve-auth",
         "--events", "--line", "--zone", "--fall",
         "--infer-workers", "--preprocess-shards", "--render-shards")
MQTT = ("--mqtt", "--mqtt-every", "--mqtt-max-rate", "--mqtt-ca", "--mqtt-node",
        "--mqtt-discovery")
# The thread plan's overrides (issue 15).
THREADS = ("--cores", "--opencv-threads")
# Many cameras (issue 12): the cameras file.
CAMERAS = ("--cameras", "--max-streams")
# Resolution where the people are (issue 20): the scale from the person height, tiles.
TILES = ("--min-person-height", "--tiles", "--tile-overlap", "--tile-size", "--motion")
# Pay for the pixels (issue 21): the network on every (N+1)th frame.
INTERVAL = ("--interval", "--interval-max")
# Drawing that reads at small scale (issue 20); progress lines off a terminal (issue 24).
DRAWING = ("--draw-min-score", "--draw-min-keypoints")
PROGRESS = ("--progress-every",)
# Frames keep their real size and orientation (issue 23).
FRAMES = ("--max-frame-size", "--no-autorotate", "--recording-resize")
# A hostile world (issue 23): the pages that may open the console's WebSocket.
CONSOLE = ("--serve-origin",)
CONSOLE_LIMITS = ("header_timeout_s", "idle_timeout_s", "max_connections",
                  "max_connections_per_address", "max_streams", "max_streams_per_address",
                  "fd_reserve")  # [console] only
# Models by name, tracking off for photos unless asked (issue 24).
ISSUE_24 = ("--models-dir", "--tracking")
TRACKER = ("--track-max-age", "--track-min-similarity", "--track-min-hits", "--track-sigma",
           "--track-min-scale", "--track-velocity-smoothing")


def parse(*argv: str) -> argparse.Namespace:
    return build_parser().parse_args(["run", *argv])


def config(*argv: str) -> PipelineConfig:
    return build_config({}, given_values(parse("a.mp4", "--model", "m.onnx", *argv)))


# --- validation ----------------------------------------------------------------------


@pytest.mark.parametrize(("section", "kwargs", "message"), [
    (BatchingConfig, {"batch": 0},
     "--batch / [batching].batch: 0 is outside the allowed range [1, 256]"),
    (BatchingConfig, {"batch": 257}, "257 is outside the allowed range [1, 256]"),
    (BatchingConfig, {"batch": 2.0}, "--batch / [batching].batch: 2.0 is not an integer"),
    (BatchingConfig, {"batch": True}, "True is not an integer"),
    (BatchingConfig, {"max_wait_ms": -1}, "[batching].max_wait_ms: -1 is outside the allowed "
                                          "range [0, 10000]"),
    (ModelConfig, {"device_ops": "gpu"},
     "--device-ops / [model].device_ops: 'gpu' is not one of 'auto', 'on', 'off'"),
    (ModelConfig, {"height": 16}, "--height / [model].height: 16 is outside"),
    (ModelConfig, {"threads": 0}, "--threads / [model].threads: 0 is outside"),
    (DrawConfig, {"ids": "yes"}, "--no-ids / [draw].ids: 'yes' is not true or false"),
    (DrawConfig, {"min_confidence": 1.5}, "1.5 is outside the allowed range [0, 1]"),
    (DrawConfig, {"min_score": -0.1}, "--draw-min-score / [draw].min_score: -0.1 is outside"),
    (DrawConfig, {"min_keypoints": 2.0}, "[draw].min_keypoints: 2.0 is not an integer"),
    (TrackingConfig, {"min_similarity": 0.0}, "(0, 1]"),
    (TrackingConfig, {"velocity_smoothing": 1.0}, "[tracking].velocity_smoothing: 1.0 is "
                                                  "outside the allowed range [0, 1)"),
    (LiveConfig, {"rtsp_transport": "http"}, "'http' is not one of 'tcp', 'udp'"),
    (LiveConfig, {"slots": 1}, "[live].slots: 1 is outside the allowed range [2, 256]"),
    (LiveConfig, {"duration_s": 0}, "--duration / [live].duration_s: 0 is outside"),
    (OutputsConfig, {"metrics_port": 70000}, "[0, 65535]"),
    (PerformanceConfig, {"crf": 52}, "--crf / [performance].crf: 52"),
    (PerformanceConfig, {"frame_slots": 2}, "[performance].frame_slots: 2 is outside the "
                                            "allowed range [4, 1024]"),
    (DecoderThresholds, {"peak_threshold": 0.0}, "[decoder].peak_threshold: 0.0 is outside the "
                                                 "allowed range (0, 1]"),
    (DecoderThresholds, {"paf_samples": 1}, "[decoder].paf_samples: 1 is outside the allowed "
                                            "range [2, inf)"),
    (ModelConfig, {"min_person_height": 2}, "--min-person-height / [model].min_person_height: "
                                            "2 is outside the allowed range [4, 4096]"),
    (ModelConfig, {"min_person_height": 40.5}, "[model].min_person_height: 40.5 is not an "
                                               "integer"),
    (ModelConfig, {"min_person_height": "abc"}, "--min-person-height / [model]."
     "min_person_height: 'abc' is not an integer in [4, 4096] or a percentage N% in "
     "[0.5%, 100%]"),
    (ModelConfig, {"min_person_height": "5px"}, "'5px' is not an integer in [4, 4096] or a "
                                                "percentage"),
    (ModelConfig, {"min_person_height": "-5%"}, "'-5%' is not an integer in [4, 4096] or a "
                                                "percentage"),
    (ModelConfig, {"min_person_height": "0%"}, "[model].min_person_height: '0%' is outside "
                                               "the allowed range [0.5%, 100%] (or an "
                                               "integer in [4, 4096])"),
    (ModelConfig, {"min_person_height": "150%"}, "'150%' is outside the allowed range "
                                                 "[0.5%, 100%]"),
    (ModelConfig, {"min_person_height": -5}, "[model].min_person_height: -5 is outside the "
                                             "allowed range [4, 4096] (or a percentage N% "
                                             "in [0.5%, 100%])"),
    (ModelConfig, {"interval": 31}, "--interval / [model].interval: 31 is outside the "
                                    "allowed range [0, 30]"),
    (ModelConfig, {"interval": -1}, "--interval / [model].interval: -1 is outside"),
    (ModelConfig, {"interval": 1.5}, "--interval / [model].interval: 1.5 is not an integer"),
    (ModelConfig, {"interval": "fast"}, "--interval / [model].interval: 'fast' is not an "
                                        "integer or 'auto'"),
    (ModelConfig, {"interval_max": 0}, "--interval-max / [model].interval_max: 0 is outside"),
    (TilesConfig, {"mode": "on"}, "--tiles / [tiles].mode: 'on' is not one of 'off', 'auto'"),
    (TilesConfig, {"overlap": -1}, "--tile-overlap / [tiles].overlap: -1 is outside the "
                                   "allowed range [0, 4096]"),
    (TilesConfig, {"size": 16}, "--tile-size / [tiles].size: 16 is outside the allowed "
                                "range [32, 4096]"),
])
def test_a_bad_value_names_the_option_the_value_and_the_range(
        section: type, kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        section(**kwargs)
    assert message in str(info.value)
    assert info.value.exit_code == 2


def test_values_are_normalised() -> None:
    assert BatchingConfig(max_wait_ms=20).max_wait_ms == 20.0
    assert isinstance(BatchingConfig(max_wait_ms=20).max_wait_ms, float)
    assert ModelConfig(path="m.onnx").path == Path("m.onnx")  # type: ignore[arg-type]
    assert PipelineConfig(sources=["a.mp4"],  # type: ignore[arg-type]
                          model=ModelConfig(path=Path("m"))).sources == ("a.mp4",)


def test_sources_and_model_are_required() -> None:
    with pytest.raises(ConfigError, match="at least one SOURCE"):
        PipelineConfig(sources=(), model=ModelConfig(path=Path("m.onnx")))
    with pytest.raises(ConfigError, match="--model is required"):
        PipelineConfig(sources=("a.mp4",))
    with pytest.raises(ConfigError, match="not a list of strings"):
        PipelineConfig(sources="a.mp4", model=ModelConfig(path=Path("m")))
    with pytest.raises(ConfigError, match=r"PipelineConfig\.batching: .* is not a BatchingConfig"):
        PipelineConfig(sources=("a.mp4",), model=ModelConfig(path=Path("m")),
                       batching={"batch": 2})  # type: ignore[arg-type]


def test_ring_slots_follow_the_batch_unless_set() -> None:
    assert PerformanceConfig().ring_slots(4) == 14
    assert PerformanceConfig(frame_slots=32).ring_slots(4) == 32


def test_the_tracker_is_built_from_its_section() -> None:
    section = TrackingConfig(max_age=3, min_similarity=0.5, min_hits=2, sigma=0.5,
                             min_scale=10.0, velocity_smoothing=0.0)
    tracker = PoseTracker.from_config(section)
    assert (tracker.max_age, tracker.min_similarity, tracker.min_hits, tracker.sigma,
            tracker.min_scale, tracker.velocity_smoothing) == (3, 0.5, 2, 0.5, 10.0, 0.0)
    default, built = PoseTracker(), PoseTracker.from_config(TrackingConfig())
    names = [f.name for f in dataclasses.fields(TrackingConfig) if f.name != "enabled"]
    assert [getattr(default, n) for n in names] == [getattr(built, n) for n in names]


def test_cameras_give_each_stream_its_transport_and_blur() -> None:
    from streampose.config.camera import Camera

    cams = (Camera("a", "rtsp://h/a", transport="udp", blur_faces=True),
            Camera("b", "rtsp://h/b"))
    cfg = PipelineConfig(sources=("rtsp://h/a", "rtsp://h/b"), model=ModelConfig(path=Path("m")),
                         cameras=cams)
    assert cfg.cameras == cams
    assert [cfg.live_for(i).rtsp_transport for i in range(2)] == ["udp", "tcp"]
    assert [cfg.draw_for(i).blur_faces for i in range(2)] == [True, False]
    plain = PipelineConfig(sources=("x",), model=ModelConfig(path=Path("m")))
    assert plain.live_for(0) is plain.live and plain.draw_for(0) is plain.draw
    with pytest.raises(ConfigError, match="1 cameras for 2 sources"):
        PipelineConfig(sources=("a", "b"), model=ModelConfig(path=Path("m")), cameras=cams[:1])


def test_decoder_section_is_the_decoder_s_thresholds() -> None:
    assert SECTIONS["decoder"] is DecoderThresholds
    assert PipelineConfig(sources=("a",), model=ModelConfig(path=Path("m"))).decoder == \
        DecoderThresholds()
    assert all(opt.flag is None for opt in options(DecoderThresholds))  # TOML only


# --- the generated command line ------------------------------------------------------


def test_today_s_flags_are_all_there_plus_the_tracker_s() -> None:
    words = (word.strip("[],") for word in _run_help().split())
    flags = {w for w in words if w.startswith("-") and w[1:2].isalpha() | (w[1:2] == "-")}
    groups = (TODAY, TRACKER, ADDED, MQTT, THREADS, CAMERAS, TILES, INTERVAL, DRAWING,
              PROGRESS, FRAMES, CONSOLE, ISSUE_24)
    assert set().union(*groups) | {"-h", "--help"} == flags


def test_defaults_are_today_s() -> None:
    cfg = config()
    assert (cfg.model.backend, cfg.model.device, cfg.model.threads, cfg.model.device_ops,
            cfg.model.height, cfg.model.backend_options) == ("onnxruntime", None, None, "auto",
                                                             None, {})
    assert (cfg.batching.batch, cfg.batching.max_wait_ms) == (1, 10.0)
    assert (cfg.performance.max_frames, cfg.performance.postprocess_workers,
            cfg.performance.decode_threads, cfg.performance.encoder_preset,
            cfg.performance.crf) == (None, 1, None, "ultrafast", 23)  # threads: the plan's
    assert (cfg.threads.cores, cfg.threads.opencv, cfg.threads.inter_op) == (None, None, None)
    assert (cfg.tracking.enabled, cfg.draw.ids, cfg.draw.boxes, cfg.draw.blur_faces,
            cfg.draw.min_confidence, cfg.draw.min_score, cfg.draw.min_keypoints) == \
        (True, True, False, False, 0.0, 0.03, 4)
    assert (cfg.live.rtsp_transport, cfg.live.open_timeout_s, cfg.live.read_timeout_s,
            cfg.live.stall_timeout_s, cfg.live.reconnect, cfg.live.duration_s) == \
        ("tcp", 10.0, 5.0, 5.0, True, None)
    assert (cfg.outputs.video, cfg.outputs.json, cfg.outputs.metrics_port,
            cfg.outputs.metrics_host) == (None, None, None, "127.0.0.1")
    assert cfg == PipelineConfig(sources=("a.mp4",), model=ModelConfig(path=Path("m.onnx")))


@pytest.mark.parametrize(("argv", "table", "name", "value"), [
    (["-o", "o.mp4"], "outputs", "video", "o.mp4"),
    (["--output", "cam_{stream}.mp4"], "outputs", "video", "cam_{stream}.mp4"),
    (["--json", "o.jsonl"], "outputs", "json", Path("o.jsonl")),
    (["--coco", "c.json"], "outputs", "coco", Path("c.json")),
    (["--openpose-json", "op"], "outputs", "openpose_json", Path("op")),
    (["--summary", "s.json"], "outputs", "summary", Path("s.json")),
    (["--metrics-port", "9108"], "outputs", "metrics_port", 9108),
    (["--metrics-host", "0.0.0.0"], "outputs", "metrics_host", "0.0.0.0"),
    (["--model-spec", "s.toml"], "model", "spec", Path("s.toml")),
    (["--backend", "fake"], "model", "backend", "fake"),
    (["--device", "cuda:1"], "model", "device", "cuda:1"),
    (["--weights", "random"], "model", "weights", "random"),
    (["--threads", "2"], "model", "threads", 2),
    (["--backend-option", "spin=true", "--backend-option", "delay_ms=2.5",
      "--backend-option", "mode=x"], "model", "backend_options",
     {"spin": True, "delay_ms": 2.5, "mode": "x"}),
    (["--device-ops", "off"], "model", "device_ops", "off"),
    (["--height", "256"], "model", "height", 256),
    (["--batch", "4"], "batching", "batch", 4),
    (["--max-wait-ms", "20"], "batching", "max_wait_ms", 20.0),
    (["--max-frames", "8"], "performance", "max_frames", 8),
    (["--postprocess-workers", "2"], "performance", "postprocess_workers", 2),
    (["--decode-threads", "0"], "performance", "decode_threads", 0),
    (["--encoder-preset", "veryfast"], "performance", "encoder_preset", "veryfast"),
    (["--crf", "28"], "performance", "crf", 28),
    (["--cores", "2"], "threads", "cores", 2),
    (["--opencv-threads", "1"], "threads", "opencv", 1),
    (["--infer-workers", "auto"], "performance", "infer_workers", "auto"),
    (["--infer-workers", "3"], "performance", "infer_workers", "3"),
    (["--preprocess-shards", "2"], "performance", "preprocess_shards", "2"),
    (["--render-shards", "4"], "performance", "render_shards", "4"),
    (["--device", "cuda:0,cuda:1"], "model", "device", "cuda:0,cuda:1"),
    (["--no-tracking"], "tracking", "enabled", False),
    (["--track-max-age", "30"], "tracking", "max_age", 30),
    (["--track-velocity-smoothing", "0"], "tracking", "velocity_smoothing", 0.0),
    (["--no-ids"], "draw", "ids", False),
    (["--boxes"], "draw", "boxes", True),
    (["--blur-faces"], "draw", "blur_faces", True),
    (["--min-confidence", "0.3"], "draw", "min_confidence", 0.3),
    (["--draw-min-score", "0.2"], "draw", "min_score", 0.2),
    (["--draw-min-keypoints", "6"], "draw", "min_keypoints", 6),
    (["--rtsp-transport", "udp"], "live", "rtsp_transport", "udp"),
    (["--open-timeout", "3"], "live", "open_timeout_s", 3.0),
    (["--read-timeout", "2"], "live", "read_timeout_s", 2.0),
    (["--stall-timeout", "1.5"], "live", "stall_timeout_s", 1.5),
    (["--no-reconnect"], "live", "reconnect", False),
    (["--duration", "12"], "live", "duration_s", 12.0),
])
def test_each_flag_sets_its_field(argv: list[str], table: str, name: str, value: Any) -> None:
    assert getattr(getattr(config(*argv), table), name) == value
    assert given_values(parse(*argv)) == {table: {name: value}}


def test_every_field_with_a_flag_is_on_the_command_line() -> None:
    """One option = one edit: a field with a flag is a CLI option without anything else."""
    for opt in cli_options():
        argv = _argv_setting(opt)
        assert given_values(parse(*argv)) == {opt.table: {opt.name: _value_set(opt)}}, argv
    flagged = {(o.table, o.name) for o in cli_options()}
    toml_only = {(s.table, f.name) for s in SECTIONS.values() for f in dataclasses.fields(s)
                 if (s.table, f.name) not in flagged}
    assert toml_only == {("live", "max_backoff_s"), ("live", "slots"), ("live", "analyze_s"),
                         ("performance", "encoder_threads"), ("performance", "frame_slots"),
                         ("console", "preview_fps"), ("console", "preview_width"),
                         *(("console", name) for name in CONSOLE_LIMITS),
                         ("events", "min_keypoints"), ("model", "dir"),
                         ("mqtt", "status_interval_s"), ("mqtt", "connect_timeout_s"),
                         ("mqtt", "max_queued"), ("mqtt", "max_backoff_s"),
                         ("performance", "drain_timeout_s"), ("threads", "inter_op"),
                         *(("decoder", f.name) for f in dataclasses.fields(DecoderThresholds)),
                         *(("keypoints", f.name) for f in dataclasses.fields(KeypointThresholds)),
                             *(("motion", f.name) for f in dataclasses.fields(MotionConfig)
                               if f.name != "mode")}


def test_the_command_line_names_a_bad_value() -> None:
    with pytest.raises(ConfigError, match=r"--batch / \[batching\]\.batch: 0 is outside the "
                                          r"allowed range \[1, 256\]"):
        config("--batch", "0")


def test_a_bad_backend_option_is_a_usage_error(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        parse("a.mp4", "--backend-option", "spin")
    assert info.value.code == 2 and "'spin' is not KEY=VALUE" in capsys.readouterr().err


def test_help_shows_the_defaults() -> None:
    text = " ".join(_run_help().split())
    assert "max frames per inference batch (default 1)" in text
    assert "(default 127.0.0.1)" in text and "(default ultrafast)" in text


def _run_help() -> str:
    import contextlib
    import io

    out = io.StringIO()
    with contextlib.redirect_stdout(out), pytest.raises(SystemExit):
        build_parser().parse_args(["run", "--help"])
    return out.getvalue()


def _argv_setting(opt: Option) -> list[str]:
    assert opt.flag is not None
    if opt.kind == "bool" or opt.meta.const is not None:
        return [opt.flag]
    return [opt.flag, _text(opt)]


def _text(opt: Option) -> str:
    if opt.meta.choices:
        return opt.meta.choices[-1]
    if opt.kind == "dict":
        return "key=1"
    if opt.kind in ("int", "float"):
        return str(int(opt.meta.low or 0) + 1 if opt.kind == "int" else (opt.meta.low or 0) + 0.5)
    return "x"


def _value_set(opt: Option) -> Any:
    if opt.kind == "bool":
        return not opt.default
    if opt.meta.const is not None:
        return opt.meta.const
    if opt.kind == "dict":
        return {"key": 1}
    if opt.kind == "tables":
        assert opt.meta.parse is not None
        return (opt.meta.parse(_text(opt)),)
    if opt.kind == "path":
        return Path("x")
    return {"int": int, "float": float}.get(opt.kind, str)(_text(opt))


def test_mqtt_section_from_flags_and_a_pipeline_file() -> None:
    cfg = build_config({"sources": ["a.mp4"], "model": {"path": "m.onnx"},
                        "mqtt": {"url": "mqtt://broker/site", "every": 2, "max_queued": 50}},
                       given_values(parse("--mqtt-max-rate", "2.5", "--mqtt-node", "n1")))
    assert (cfg.mqtt.url, cfg.mqtt.every, cfg.mqtt.max_rate, cfg.mqtt.node,
            cfg.mqtt.max_queued) == ("mqtt://broker/site", 2, 2.5, "n1", 50)
    assert config().mqtt.url is None
    with pytest.raises(ConfigError, match=r"\[mqtt\]\.every"):
        build_config({"sources": ["a"], "mqtt": {"every": 0}}, {})
    with pytest.raises(ConfigError, match="node"):
        build_config({"sources": ["a"], "mqtt": {"node": "a/b"}}, {})
    with pytest.raises(ConfigError, match="only for a TLS broker"):
        build_config({"sources": ["a"], "mqtt": {"url": "mqtt://h", "ca_file": "ca.pem"}}, {})


def test_motion_regions_are_off_unless_asked_for() -> None:
    assert config().motion == MotionConfig() and not MotionConfig().enabled
    on = config("--motion", "auto").motion
    assert (on.mode, on.enabled, on.full_every) == ("auto", True, 50)


def test_motion_thresholds_are_checked_with_one_line_errors() -> None:
    with pytest.raises(ConfigError, match=r"^\[motion\]\.blur: 4 must be odd"):
        MotionConfig(blur=4)
    with pytest.raises(ConfigError, match=r"^\[motion\]\.full_every: 0 is outside"):
        MotionConfig(full_every=0)
    with pytest.raises(ConfigError, match=r"^--motion / \[motion\]\.mode: 'yes' is not one"):
        MotionConfig(mode="yes")


def test_tiles_are_off_unless_asked_for() -> None:
    assert config().tiles == TilesConfig() and not TilesConfig().enabled
    assert config().model.min_person_height is None
    tiles = config("--tiles", "auto", "--tile-overlap", "32", "--tile-size", "640",
                   "--min-person-height", "40")
    assert (tiles.tiles.enabled, tiles.tiles.overlap, tiles.tiles.size) == (True, 32, 640)
    assert tiles.model.min_person_height == 40


@pytest.mark.parametrize(("given", "value"), [("40", 40), ("11%", "11%"), ("7.5%", "7.5%"),
                                              ("0.5%", "0.5%"), ("100%", "100%")])
def test_the_smallest_person_is_pixels_or_a_share_of_the_frame(given: str,
                                                               value: int | str) -> None:
    assert config("--min-person-height", given).model.min_person_height == value


@pytest.mark.parametrize("given", ["abc", "0%", "150%", "-5", "5px", "40.5", "11 %"])
def test_a_bad_smallest_person_is_one_config_error_naming_the_forms(given: str) -> None:
    with pytest.raises(ConfigError) as info:
        config("--min-person-height", given)
    message = str(info.value)
    shown = given if given.lstrip("-").isdigit() else repr(given)  # -5 is read as an int
    assert message.startswith(f"--min-person-height / [model].min_person_height: {shown} ")
    assert "\n" not in message and "[4, 4096]" in message and "[0.5%, 100%]" in message


def test_the_python_callers_settings_are_no_option() -> None:
    """``PipelineConfig.caller`` is set by ``Pipeline.stream()`` alone: no flag, no table."""
    from streampose.config.sections import CallerConfig

    assert "caller" not in SECTIONS
    assert config().caller is None and CallerConfig().buffer > 0
    with pytest.raises(ConfigError, match="buffer=0"):
        CallerConfig(buffer=0)


# --- tracking: on for videos and cameras, off for photos (issue 24) --------------------


@pytest.mark.parametrize(("sources", "tracks"), [
    (("clip.mp4",), True), (("rtsp://h/cam",), True), (("0",), True),
    (("photo.jpg",), False), (("shots/*.png",), False), (("http://h/snap.jpg",), True),
    (("photo.jpg", "clip.mp4"), True)])
def test_tracking_by_default_for_videos_and_cameras_not_photos(
        sources: tuple[str, ...], tracks: bool) -> None:
    cfg = PipelineConfig(sources=sources, model=ModelConfig(path=Path("m")))
    assert cfg.tracking.enabled is tracks


def test_a_folder_of_images_is_not_tracked_unless_asked(tmp_path: Path) -> None:
    folder = str(tmp_path)
    assert build_config({}, given_values(parse(folder, "--model", "m"))).tracking.enabled is False
    asked = build_config({}, given_values(parse(folder, "--model", "m", "--tracking")))
    assert asked.tracking.enabled is True
    assert config("--no-tracking").tracking.enabled is False


def test_event_rules_on_photos_track_but_not_against_no_tracking() -> None:
    line = "--line", "a:0,0,100,0"
    assert build_config({}, given_values(parse("p.jpg", "--model", "m", *line))).tracking.enabled
    with pytest.raises(ConfigError, match="remove --no-tracking"):
        build_config({}, given_values(parse("p.jpg", "--model", "m", "--no-tracking", *line)))
