"""The pipeline's configuration: one frozen dataclass per TOML table.

``PipelineConfig`` holds the sources and one section per table (``[model]``,
``[batching]``, ``[outputs]``, ``[draw]``, ``[tracking]``, ``[live]``,
``[performance]``, ``[decoder]``, ``[keypoints]``, ``[console]``, ``[events]``, ``[mqtt]``,
``[threads]``, ``[tiles]``, ``[motion]``). Every option is a field made with
:func:`~streampose.config.fields.option`; the command line and the TOML schema are
generated from these fields, and each section validates its own values.
"""

from __future__ import annotations

import dataclasses
import ipaddress
import logging
import re
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from streampose.config.camera import Camera
from streampose.config.fields import Section, option
from streampose.config.overrides import StreamSettings
from streampose.config.rules import parse_line, parse_zone
from streampose.errors import ConfigError
from streampose.mqtt.url import parse_broker_url
from streampose.uri import is_image_uri, is_url

__all__ = [
    "RESIZE_MODES",
    "SECTIONS",
    "BatchingConfig",
    "ConsoleConfig",
    "DecoderThresholds",
    "DrawConfig",
    "EventsConfig",
    "KeypointThresholds",
    "LiveConfig",
    "ModelConfig",
    "MotionConfig",
    "MqttConfig",
    "OutputsConfig",
    "PerformanceConfig",
    "PipelineConfig",
    "ThreadsConfig",
    "TilesConfig",
    "TrackingConfig",
    "parse_size",
]

RESIZE_MODES = ("segment", "letterbox")  # a recording whose frames change size
_SIZE = re.compile(r"^\s*(\d+)\s*[xX]\s*(\d+)\s*$")


def parse_size(text: str, what: str) -> tuple[int, int]:
    """``(width, height)`` of ``"WxH"`` (each 16 to 16384); ConfigError naming ``what``."""
    match = _SIZE.match(text) if isinstance(text, str) else None
    size = (int(match.group(1)), int(match.group(2))) if match else None
    if size is None or not all(16 <= n <= 16384 for n in size):
        raise ConfigError(f"{what} = {text!r}: expected WIDTHxHEIGHT, each from 16 to 16384 "
                          "(e.g. 3840x2160)")
    return size


@dataclass(frozen=True)
class ModelConfig(Section):
    """[model]: which network, where it runs, at what input size, on which frames."""

    table: ClassVar[str] = "model"

    path: Path | None = option(None, flag="--model", metavar="MODEL", help=(
        "model file (ONNX), model name (NAME.onnx in a model folder: `streampose models` "
        "lists them and the folders) or a built-in network name (lightweight-openpose); "
        "required here or in --config"))
    models_dir: Path | None = option(None, flag="--models-dir", metavar="DIR", toml=False,
                                     help="folder searched first for --model NAME")
    dir: Path | None = option(None, flag="", help=(
        "folder searched for --model NAME after --models-dir and $STREAMPOSE_MODELS"))
    spec: Path | None = option(None, flag="--model-spec", metavar="SPEC.toml",
                               help="model spec TOML (default: sidecar or built-in)")
    weights: str | None = option(None, metavar="CKPT", help=(
        "checkpoint for a built-in network (--model lightweight-openpose); 'random' for "
        "untrained weights (plumbing only)"))
    backend: str = option("onnxruntime", help=(
        "onnxruntime, torch, tensorrt, or auto: the fastest available"))
    device: str | None = option(None, help=(
        "cpu or cuda[:N] (default: cpu; with --backend auto, a GPU if any)"))
    threads: int | None = option(None, low=1, high=256,
                                 help="inference threads (default: the backend's)")
    device_ops: str = option("auto", choices=("auto", "on", "off"), help=(
        "letterbox and peak NMS on the inference device (auto: on for torch/tensorrt on "
        "CUDA; needs torch)"))
    height: int | None = option(None, low=32, high=4096, help=(
        "network input size in pixels (default: the model spec's input_height; PAF "
        "(OpenPose) models: 368, the input height; YOLO-pose keypoint models: 960, the "
        "long side of the image, 1.5x the 640 they were trained at); wins over "
        "[model].min_person_height"))
    min_person_height: int | str | None = option(
        None, low=4, high=4096, percent=(0.5, 100.0), metavar="PX|N%", help=(
            "the smallest person to find: PX frame pixels (40), or N% of the frame's "
            "height (11%, 7.5%: one value for cameras of any resolution, worked out per "
            "frame size and rounded to whole pixels); picks the network input scale from "
            "the model's best range of person heights (default: the input size of --height "
            "or the spec)"))
    interval: int | str = option(0, low=0, high=30, metavar="N|auto", words=("auto",), help=(
        "run the network on every (N+1)th frame of each stream and carry the tracked "
        "poses across the frames between by optical flow (0: every frame); auto: per "
        "stream, every frame while people move fast or motion appears outside the tracked "
        "people, up to [model].interval_max frames carried in calm scenes"))
    interval_max: int = option(2, low=1, high=30, metavar="N", help=(
        "--interval auto: the most frames carried between two inferred frames"))
    backend_options: dict[str, object] = option(
        default_factory=dict, flag="--backend-option", metavar="KEY=VALUE",
        help="backend-specific option, repeatable (e.g. spin=true for onnxruntime)")


@dataclass(frozen=True)
class BatchingConfig(Section):
    """[batching]: how the inference stage forms batches (DeepStream's nvstreammux rule)."""

    table: ClassVar[str] = "batching"

    batch: int = option(1, low=1, high=256, help="max frames per inference batch")
    max_wait_ms: float = option(10.0, low=0, high=10_000, metavar="MS",
                                help="longest wait to fill a batch after its first frame")


@dataclass(frozen=True, kw_only=True)
class CallerConfig:
    """Each frame's result to the calling Python program (:func:`streampose.stream`):
    at most ``buffer`` results in flight, with the frame's picture when ``images``. Set by
    :meth:`streampose.Pipeline.stream`, never from a file or the command line."""

    buffer: int = 8
    images: bool = False

    def __post_init__(self) -> None:
        if not 1 <= self.buffer <= 10_000:
            raise ConfigError(f"stream(buffer={self.buffer!r}): give 1 to 10000 results")


@dataclass(frozen=True)
class OutputsConfig(Section):
    """[outputs]: where results go. Every path is optional; any combination works."""

    table: ClassVar[str] = "outputs"

    video: str | None = option(None, flag="--output", short="-o", metavar="OUT.mp4", path=True,
                               help=(
        "annotated video (H.264 MP4), or a folder ending in / for image sources; {stream} "
        "is replaced by the stream index, {camera} by the camera name"))
    json: Path | None = option(None, metavar="OUT.jsonl",
                               help="per-frame keypoints as JSON lines")
    summary: Path | None = option(None, metavar="OUT.json",
                                  help="write the run summary as JSON")
    coco: Path | None = option(None, metavar="OUT.json",
                               help="COCO keypoint results file (pycocotools loadRes)")
    openpose_json: Path | None = option(None, metavar="DIR",
                                        help="one OpenPose-format JSON file per frame in DIR")
    metrics_port: int | None = option(None, low=0, high=65535, metavar="PORT",
                                      help="serve Prometheus metrics at http://HOST:PORT/metrics")
    metrics_host: str = option("127.0.0.1",
                               help="address for --metrics-port (loopback only by default)")
    coco_ids: Path | None = option(None, metavar="ANN.json", help=(
        "take COCO image ids from this annotation file, by file name"))
    overwrite: bool = option(True, negate="--no-overwrite", help=(
        "replace existing outputs (off: refuse an output that exists or that another "
        "running streampose writes)"), negate_help=(
        "refuse to replace an existing output, or to write one that another running "
        "streampose writes (exit 4)"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.coco_ids is not None and self.coco is None:
            raise ConfigError(f"--coco-ids / [outputs].coco_ids = {self.coco_ids}: the ids "
                              "are for the COCO results file; give --coco OUT.json too")


@dataclass(frozen=True)
class DrawConfig(Section):
    """[draw]: what the annotated video shows."""

    table: ClassVar[str] = "draw"

    ids: bool = option(True, negate="--no-ids", help="draw person ids",
                       negate_help="draw no person ids (#7 labels)")
    boxes: bool = option(False, help="draw a box around each person")
    blur_faces: bool = option(False, help="blur a region around each head (privacy)")
    min_confidence: float = option(0.0, low=0.0, high=1.0,
                                   help="don't draw keypoints at or below this confidence")
    # The defaults hide what is rarely a person: a PAF pose of 3 keypoints (the decoder's
    # least; on vtest.mp4 mostly a warning sign) or one scoring under 0.03 (PAF scores
    # are the mean keypoint and limb score x found/18: a far person with 8 keypoints scores
    # ~0.09, so a higher floor hides real people). YOLO-pose's decoder keeps >= 0.25.
    min_score: float = option(0.03, low=0.0, high=1.0, flag="--draw-min-score",
                              metavar="SCORE", help=(
        "don't draw people (skeleton, box, id) whose person score is below this; the "
        "JSON lines and every other output keep them, with their scores"))
    min_keypoints: int = option(4, low=0, high=1000, flag="--draw-min-keypoints",
                                metavar="N", help=(
        "don't draw people with fewer keypoints drawn (those above the keypoint "
        "confidence floor); the outputs keep them"))


@dataclass(frozen=True)
class TrackingConfig(Section):
    """[tracking]: person ids stable across frames (streampose.pose.tracking.PoseTracker)."""

    table: ClassVar[str] = "tracking"

    enabled: bool | None = option(None, flag="--tracking", help=(
        "person ids stable across frames (--no-tracking gives id -1 everywhere); default: "
        "on for videos and cameras, off when every source is images, on with event rules"))
    max_age: int = option(15, low=0, high=10_000, flag="--track-max-age",
                          help="frames a lost track is kept before its id retires")
    min_similarity: float = option(0.2, low=0.0, high=1.0, low_open=True,
                                   flag="--track-min-similarity",
                                   help="least keypoint similarity (OKS-like) to match a track")
    min_hits: int = option(1, low=1, high=1000, flag="--track-min-hits",
                           help="matches before a new track gets an id")
    sigma: float = option(0.25, low=0.0, high=100.0, low_open=True, flag="--track-sigma",
                          help="keypoint similarity falloff, as a fraction of person scale")
    min_scale: float = option(32.0, low=0.0, high=100_000.0, low_open=True,
                              flag="--track-min-scale",
                              help="smallest person scale (pixels) in the similarity")
    velocity_smoothing: float = option(0.5, low=0.0, high=1.0, high_open=True,
                                       flag="--track-velocity-smoothing",
                                       help="weight of the old velocity in the motion model")



@dataclass(frozen=True)
class LiveConfig(Section):
    """[live]: how live sources (rtsp://, http://, /dev/videoN or N) are opened and watched.

    A read that gets no data for ``min(read_timeout_s, stall_timeout_s)`` is a stall: the
    connection is dropped and reopened (``reconnect``) with exponential backoff capped at
    ``max_backoff_s``.
    """

    table: ClassVar[str] = "live"

    rtsp_transport: str = option("tcp", choices=("tcp", "udp"), help="RTSP transport")
    open_timeout_s: float = option(10.0, low=0.1, high=3600, flag="--open-timeout",
                                   metavar="S", help="give up one connection attempt after S s")
    read_timeout_s: float = option(5.0, low=0.1, high=3600, flag="--read-timeout",
                                   metavar="S", help="a read waiting S s for data is a disconnect")
    stall_timeout_s: float = option(5.0, low=0.1, high=3600, flag="--stall-timeout",
                                    metavar="S", help="no frame for S s: reconnect")
    reconnect: bool = option(True, negate="--no-reconnect",
                             help="reconnect a live stream that drops (off: end it)",
                             negate_help="end a live stream that drops, don't reconnect")
    max_backoff_s: float = option(4.0, low=0.1, high=3600, flag="",
                                  help="longest wait between reconnection attempts")
    slots: int = option(4, low=2, high=256, flag="",
                        help="frame slots per live stream (the most frames in flight)")
    analyze_s: float = option(0.1, low=0.0, high=30.0, flag="", help=(
        "how much of a live stream FFmpeg reads to learn its format on each connection "
        "(more: a slower start, a surer frame rate)"))
    duration_s: float | None = option(None, low=0.001, high=10 ** 7, flag="--duration",
                                      metavar="S", help=(
                                          "stop cleanly after S seconds (outputs finalised, "
                                          "exit 0)"))


LAYOUT_COUNTS = ("infer_workers", "preprocess_shards", "render_shards")
MAX_PROCESSES = 64


@dataclass(frozen=True)
class PerformanceConfig(Section):
    """[performance]: worker counts, codec settings and buffer sizes."""

    table: ClassVar[str] = "performance"

    postprocess_workers: int = option(1, low=1, high=32, help="pose decoding processes")
    decode_threads: int | None = option(None, low=0, high=64, help=(
        "decoder threads per source (0: FFmpeg's choice; default: the thread plan)"))
    encoder_preset: str = option("ultrafast", help=(
        "x264 preset (ultrafast: least CPU; veryfast: ~3x smaller files)"))
    crf: int = option(23, low=0, high=51, help="x264 quality")
    encoder_threads: int | None = option(None, low=0, high=64, flag="", help=(
        "x264 threads per output (0: x264's choice; default: the thread plan)"))
    recording_resize: str = option("segment", choices=RESIZE_MODES, help=(
        "when a stream's frame size changes, its annotated video: 'segment' starts a new "
        "file at the new size (OUT-part2-WxH.mp4, ...; listed in the summary), "
        "'letterbox' scales into the first size, aspect ratio kept"))
    max_frames: int | None = option(None, low=1, high=2 ** 62,
                                    help="stop each source after N frames")
    frame_slots: int | None = option(None, low=4, high=1024, flag="", help=(
        "frame slots per file stream (default: two batches plus one per stage)"))
    max_frame_size: str | None = option(None, metavar="WxH", help=(
        "the largest frame a stream's buffers hold (default: 3840x2160 for live cameras, "
        "the larger of the probed size and 1920x1080 for files); larger frames (a source "
        "that changed resolution) are scaled down, aspect ratio kept, and counted"))
    autorotate: bool = option(True, negate="--no-autorotate", help=(
        "turn video files upright as their display matrix says (phone videos): poses in "
        "the displayed orientation (off: the stored one)"),
        negate_help=("keep video files as stored, ignoring their display matrix (the "
                     "recording keeps the matrix, so players still show it upright)"))
    drain_timeout_s: float = option(10.0, low=0.1, high=3600, flag="",
                                    help="longest wait for frames in flight at shutdown")
    # Process layout (streampose.planning.layout): "auto" or a count, kept as text so the
    # command line takes either.
    infer_workers: str = option("auto", metavar="N|auto", help=(
        "inference processes sharing the input queue, each with its own model session "
        "(auto: one per device listed in --device, e.g. cuda:0,cuda:1; on the CPU one "
        "single-threaded worker per core, at most 8; 1 when --threads is given)"))
    preprocess_shards: str = option("auto", metavar="N|auto", help=(
        "preprocess processes, each owning some streams (auto: from streams and cores)"))
    render_shards: str = option("auto", metavar="N|auto", help=(
        "render processes, each owning some streams and their outputs (auto: from "
        "streams and cores)"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.max_frame_size is not None:
            parse_size(self.max_frame_size, "--max-frame-size / [performance].max_frame_size")
        for name in LAYOUT_COUNTS:
            value = getattr(self, name)
            if value != "auto" and not (value.isdigit() and 1 <= int(value) <= MAX_PROCESSES):
                flag = "--" + name.replace("_", "-")
                raise ConfigError(f"{flag} / [performance].{name} = {value!r}: give 'auto' "
                                  f"or a whole number from 1 to {MAX_PROCESSES}")

    def count(self, name: str) -> int | None:
        """A layout count (``infer_workers``, ``preprocess_shards``, ``render_shards``);
        None for ``auto``."""
        value = getattr(self, name)
        return None if value == "auto" else int(value)

    def ring_slots(self, batch: int) -> int:
        """Frame slots per file stream: ``frame_slots``, or enough for two batches of
        ``batch`` plus every stage's item."""
        return self.frame_slots or 2 * batch + 6


@dataclass(frozen=True)
class DecoderThresholds(Section):
    """[decoder]: grouping parameters (pipeline files and the Python API; no CLI flags).

    Defaults follow OpenPose except ``peak_threshold``: peaks are lower at the network's
    output resolution than on upsampled maps, so it is 0.05 rather than 0.1. Every value
    is checked on construction (ConfigError naming the key, the value and the range).
    """

    table: ClassVar[str] = "decoder"

    peak_threshold: float = option(0.05, low=0.0, high=1.0, low_open=True, flag="",
                                   help="minimum heatmap value of a keypoint candidate")
    nms_radius: int = option(1, low=1, flag="", help=(
        "half-size of the non-maximum suppression window, in map pixels"))
    paf_threshold: float = option(0.05, low=-1.0, high=1.0, flag="", help=(
        "minimum PAF alignment for a sample along a limb to count"))
    paf_samples: int = option(10, low=2, flag="", help="points sampled along each candidate limb")
    min_fraction: float = option(0.8, low=0.0, high=1.0, flag="", help=(
        "fraction of samples that must exceed paf_threshold"))
    min_parts: int = option(3, low=1, flag="", help="people with fewer keypoints are dropped")
    min_mean_score: float = option(0.2, low=0.0, flag="", help=(
        "people whose total score per keypoint is lower are dropped"))
    subpixel: bool = option(True, flag="", help="refine peaks to sub-pixel positions")


@dataclass(frozen=True)
class KeypointThresholds(Section):
    """[keypoints]: the one-stage keypoint head (YOLO-pose style): which boxes are people
    (pipeline files and the Python API; no CLI flags).

    Unset values take the model spec's (``score_threshold``, ``iou_threshold``,
    ``max_people`` keys), else the defaults 0.25, 0.7 and 100.
    """

    table: ClassVar[str] = "keypoints"

    DEFAULTS: ClassVar[dict[str, float]] = {
        "score_threshold": 0.25, "iou_threshold": 0.7, "max_people": 100}

    score_threshold: float | None = option(None, low=0.0, high=1.0, flag="", help=(
        "keypoint models: least person score (default: the spec's, else 0.25)"))
    iou_threshold: float | None = option(None, low=0.0, high=1.0, low_open=True, flag="", help=(
        "keypoint models: boxes overlapping a better one more than this are dropped "
        "(default: the spec's, else 0.7)"))
    max_people: int | None = option(None, low=1, high=10_000, flag="", help=(
        "keypoint models: most people per frame (default: the spec's, else 100)"))


@dataclass(frozen=True)
class ConsoleConfig(Section):
    """[console]: the web console (live pictures, per-camera state, events, /metrics).

    Binding to anything but loopback needs ``serve_auth`` (checked here, before the run).
    """

    table: ClassVar[str] = "console"

    serve: str | None = option(None, metavar="[HOST:]PORT", help=(
        "serve the web console at http://HOST:PORT/; HOST defaults to 127.0.0.1, and any "
        "other address needs --serve-auth"))
    serve_auth: str | None = option(None, metavar="TOKEN|USER:PASSWORD", help=(
        "what the console asks of every request: a bearer token, or user:password "
        "(HTTP basic); required when --serve binds beyond loopback"))
    preview_fps: float = option(2.0, low=0.1, high=30.0, flag="", help=(
        "most pictures per second per camera in the console (only while watched)"))
    preview_width: int = option(640, low=64, high=3840, flag="", help=(
        "width of the console's pictures (scaled down, never up)"))
    serve_origin: str | None = option(None, metavar="ORIGIN[,ORIGIN...]", help=(
        "other origins whose pages may open the console's WebSocket (e.g. "
        "https://ops.example:8443 behind a proxy); the console's own origin always may"))
    header_timeout_s: float = option(10.0, low=0.05, high=3600, flag="", help=(
        "seconds a console connection has to send a complete request's headers"))
    idle_timeout_s: float = option(60.0, low=0.05, high=86_400, flag="", help=(
        "seconds a console connection may stay idle between requests"))
    max_connections: int = option(256, low=1, high=65_536, flag="", help=(
        "most console connections at once (beyond: the oldest waiting one is closed, or "
        "the new one refused)"))
    max_connections_per_address: int = option(64, low=1, high=65_536, flag="", help=(
        "most console connections at once from one client address"))
    max_streams: int = option(32, low=1, high=65_536, flag="", help=(
        "most WebSocket and event-stream clients at once (beyond: 503)"))
    max_streams_per_address: int = option(8, low=1, high=65_536, flag="", help=(
        "most WebSocket and event-stream clients at once from one client address"))
    fd_reserve: int = option(64, low=8, high=65_536, flag="", help=(
        "file descriptors the console leaves free for the run's own outputs (summary, "
        "recordings): below it, connections are shed or refused"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.serve is None:
            return
        host, _ = self.address
        if not _is_loopback(host) and not self.serve_auth:
            raise ConfigError(f"--serve / [console].serve = {self.serve}: {host} is not a "
                              "loopback address; give --serve-auth TOKEN or USER:PASSWORD so "
                              "that the console refuses strangers")
        if self.serve_auth is not None and not self.serve_auth.strip():
            raise ConfigError("--serve-auth / [console].serve_auth: empty")

    @property
    def address(self) -> tuple[str, int]:
        """``(host, port)`` of ``serve`` (``PORT``, ``HOST:PORT`` or ``[IPv6]:PORT``)."""
        value = self.serve or ""
        host, sep, port = value.rpartition(":")
        host = host.strip("[]") if sep else "127.0.0.1"
        if not port.isdigit() or not 0 <= int(port) <= 65535 or (sep and not host):
            raise ConfigError(f"--serve / [console].serve = {value!r}: expected PORT or "
                              "HOST:PORT with a port in 0..65535")
        return host, int(port)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


@dataclass(frozen=True)
class EventsConfig(Section):
    """[events]: line, zone and fall rules on tracked people (streampose.events).

    Coordinates are frame pixels of the camera (x right, y down). In a pipeline file the
    rules are ``[[events.line]]`` and ``[[events.zone]]`` tables (``name``, ``points`` and
    optional keys, see the README's Events section) and an ``[events.fall]`` table of
    thresholds (empty: the defaults). Events need tracking (a rule turns it on). The rules
    are built and checked by :func:`streampose.events.rules_from_config` (the command
    line's config, a pipeline's validation).
    """

    table: ClassVar[str] = "events"

    jsonl: Path | None = option(None, flag="--events", metavar="OUT.jsonl",
                                 help="write events as JSON lines (one object per line)")
    line: tuple[dict[str, object], ...] = option(
        default_factory=tuple, parse=parse_line, metavar="NAME:x1,y1,x2,y2", help=(
            "count crossings of a line (frame pixels; 'in' = left to right of the arrow "
            "x1,y1 -> x2,y2 as seen on screen), repeatable"))
    zone: tuple[dict[str, object], ...] = option(
        default_factory=tuple, parse=parse_zone, metavar="NAME:x1,y1,x2,y2,x3,y3,...",
        help="enter/leave events and occupancy of a polygon (frame pixels), repeatable")
    fall: dict[str, object] | None = option(None, const={}, help=(
        "detect falls (a heuristic) with the default thresholds; set them in a pipeline "
        "file's [events.fall] table"))
    min_keypoints: int = option(5, low=1, high=1000, flag="", help=(
        "people with fewer keypoints found are ignored by the rules (fragments of a "
        "person that the tracker may follow as a second track)"))

    @property
    def enabled(self) -> bool:
        """Whether any rule is configured."""
        return bool(self.line or self.zone or self.fall is not None)


@dataclass(frozen=True)
class MqttConfig(Section):
    """[mqtt]: results to an MQTT broker (``streampose.mqtt``; needs paho-mqtt).

    Topics under the URL's prefix: ``<camera>/poses`` (one JSON lines object per
    published frame, QoS 0), ``<camera>/events`` (QoS 1), ``<camera>/status``,
    ``<camera>/availability`` and ``node/<node>/availability`` (retained, QoS 1); with
    ``discovery``, ``<camera>/state`` and Home Assistant's discovery configs
    (:mod:`streampose.mqtt.discovery`). The URL is checked here; the password never
    appears in a message.
    """

    table: ClassVar[str] = "mqtt"

    url: str | None = option(None, flag="--mqtt", metavar="URL", help=(
        "publish poses, events and status to an MQTT broker: "
        "mqtt://[user:pass@]host[:port][/prefix] (prefix default streampose; mqtts:// for "
        "TLS); needs paho-mqtt"))
    every: int = option(1, low=1, high=10 ** 6, flag="--mqtt-every", metavar="N",
                        help="publish the poses of every Nth frame of each camera")
    max_rate: float | None = option(None, low=0.0, high=10_000.0, low_open=True,
                                    flag="--mqtt-max-rate", metavar="R", help=(
        "publish at most R pose messages per second per camera (by presentation time)"))
    ca_file: Path | None = option(None, flag="--mqtt-ca", metavar="CA.pem", help=(
        "CA certificates to trust for an mqtts:// broker (default: the system's)"))
    node: str | None = option(None, flag="--mqtt-node", help=(
        "this machine's name in status messages and its availability topic (default: the "
        "host name)"))
    discovery: str | None = option(None, const="homeassistant", flag="--mqtt-discovery",
                                   metavar="PREFIX", help=(
        "publish Home Assistant MQTT discovery configs (a device per camera) under PREFIX "
        "(without PREFIX: homeassistant; give it, or put the flag after the sources)"))
    status_interval_s: float = option(5.0, low=0.1, high=3600.0, flag="", help=(
        "seconds between status messages (also sent at once when a state changes)"))
    connect_timeout_s: float = option(5.0, low=0.1, high=300.0, flag="", help=(
        "longest wait for the broker at start-up (then it is retried in the background)"))
    max_queued: int = option(1000, low=1, high=10 ** 7, flag="", help=(
        "messages waiting to be sent per connection; more are dropped and counted"))
    max_backoff_s: int = option(10, low=1, high=3600, flag="", help=(
        "longest wait between reconnections to the broker"))

    def __post_init__(self) -> None:
        super().__post_init__()
        url = None if self.url is None else parse_broker_url(self.url)
        if self.ca_file is not None and (url is None or not url.tls):
            raise ConfigError(f"--mqtt-ca / [mqtt].ca_file = {self.ca_file}: only for a TLS "
                              "broker (an mqtts:// URL)")
        if self.node is not None and not _TOPIC_SAFE.match(self.node):
            raise ConfigError(f"--mqtt-node / [mqtt].node = {self.node!r}: use letters, "
                              "digits, '.', '_' and '-' only")
        if self.discovery is not None and not _PREFIX_SAFE.match(self.discovery):
            raise ConfigError(f"--mqtt-discovery / [mqtt].discovery = {self.discovery!r}: a "
                              "topic prefix of letters, digits, '_', '-' and '/'")
        if self.discovery is not None and url is None:
            raise ConfigError("--mqtt-discovery / [mqtt].discovery needs --mqtt URL")


_TOPIC_SAFE = re.compile(r"^[A-Za-z0-9._-]+$")
_PREFIX_SAFE = re.compile(r"^[A-Za-z0-9_-]+(/[A-Za-z0-9_-]+)*$")  # no '.': not a file name


@dataclass(frozen=True)
class ThreadsConfig(Section):
    """[threads]: the thread plan (streampose.runtime.threads) and its overrides.

    By default every stage process gets a share of the cores it runs on; inference
    threads are ``--threads``, decoder and x264 threads ``decode_threads`` and
    ``encoder_threads`` in ``[performance]``.
    """

    table: ClassVar[str] = "threads"

    cores: int | None = option(None, low=1, high=4096, flag="--cores", help=(
        "cores the thread plan shares out (default: this process's CPU affinity)"))
    opencv: int | None = option(None, low=1, high=256, flag="--opencv-threads", help=(
        "OpenCV threads per stage process (default: its share of the cores)"))
    inter_op: int | None = option(None, low=1, high=256, flag="", help=(
        "inference inter-op threads (default: 1, the graph runs sequentially)"))


@dataclass(frozen=True)
class TilesConfig(Section):
    """[tiles]: sliced inference, for small people in large frames.

    A frame whose network input at the chosen scale (``--height`` or
    ``--min-person-height``) would be larger than one tile's is cut into overlapping
    tiles at that scale (:mod:`streampose.planning.work_items`); the poses found in them
    are merged at the seams, one person one pose (:mod:`streampose.stages.item_merge`).
    """

    table: ClassVar[str] = "tiles"

    mode: str = option("off", flag="--tiles", choices=("off", "auto"), help=(
        "auto: cut a frame larger than one network input into overlapping tiles "
        "(off: the whole frame is one input)"))
    overlap: int = option(48, low=0, high=4096, flag="--tile-overlap", metavar="PX", help=(
        "least overlap of neighbouring tiles, in frame pixels (about the tallest person "
        "a tile must see whole)"))
    size: int | None = option(None, low=32, high=4096, flag="--tile-size", metavar="PX",
                              help=(
        "a tile's network input height (long side for specs with fit = \"long_side\"; "
        "default: the spec's input_height)"))

    @property
    def enabled(self) -> bool:
        """Whether frames may be cut into tiles."""
        return self.mode != "off"


MOTION_MODES = ("off", "on", "auto")


@dataclass(frozen=True)
class MotionConfig(Section):
    """[motion]: motion regions, the way NVR software spends detector time.

    Per stream, a cheap motion mask on a small grey frame finds what moves; the network
    then runs on crops around the motion and around the people being tracked, at the
    scale the whole frame would have (:mod:`streampose.regions.motion`,
    :mod:`streampose.planning.motion_items`), with a whole-frame pass every
    ``full_every`` frames and at the start; a still scene with nobody tracked is not
    inferred at all. The thresholds are the fields of
    :class:`~streampose.regions.motion.MotionSettings`.
    """

    table: ClassVar[str] = "motion"

    mode: str = option("off", flag="--motion", choices=MOTION_MODES, help=(
        "motion regions: infer only crops around what moves and around tracked people, "
        "with a whole-frame pass every [motion].full_every frames (on); auto: on for live "
        "cameras, and for video files whose whole-frame network input is larger than the "
        "model's square input (input_height x input_height), off for images and with "
        "--device-ops on; off: every inferred frame whole"))
    width: int = option(160, low=8, high=4096, flag="", help=(
        "width of the small grey frame motion is found on, pixels"))
    learning_rate: float = option(0.05, low=0.0, high=1.0, low_open=True, flag="", help=(
        "weight of each new frame in the running-average background"))
    threshold: int = option(20, low=1, high=255, flag="", help=(
        "grey-level difference from the background that counts as motion"))
    blur: int = option(3, low=1, high=31, flag="", help=(
        "Gaussian blur kernel on the small frame (odd; 1: none)"))
    dilate: int = option(2, low=0, high=20, flag="", help=(
        "3x3 dilations of the motion mask (joins the parts of one mover)"))
    min_area: int = option(4, low=1, high=1 << 20, flag="", help=(
        "smallest moving blob kept, pixels of the small mask"))
    full_every: int = option(50, low=1, high=1 << 30, flag="", help=(
        "a whole-frame pass every this many inferred frames (and the first)"))
    margin: float = option(0.25, low=0.0, high=10.0, flag="", help=(
        "a region's margin around its motion or track box, times the box's size"))
    min_side: int = option(64, low=1, high=1 << 16, flag="", help=(
        "smallest side of a region, frame pixels"))
    max_regions: int = option(4, low=1, high=64, flag="", help=(
        "most regions per frame (the closest are merged)"))
    full_area: float = option(0.5, low=0.0, high=1.0, low_open=True, flag="", help=(
        "regions covering more than this fraction of the frame give a whole-frame pass"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.blur % 2 == 0:
            raise ConfigError(f"[motion].blur: {self.blur} must be odd (1: no blur)")

    @property
    def enabled(self) -> bool:
        """Whether any stream may use motion regions (``on`` or ``auto``)."""
        return self.mode != "off"


@dataclass(frozen=True)
class PipelineConfig:
    """What to run: the sources and one section per TOML table.

    ``cameras`` (from a cameras file, ``--cameras``): empty, or one
    :class:`~streampose.config.camera.Camera` per source, in order: its name is the
    stream's camera name, its options (transport, record, draw, blur) the stream's own.
    ``seats`` (``--max-streams``): the run has that many seats, whose cameras may come
    and go while it runs (:mod:`streampose.cameras.seats`); ``cameras`` are the first
    ones (live cameras only; none is fine), and ``sources`` their URLs.
    ``heads`` (a pipeline file's ``[head.<name>]`` tables, ``{name: {key: value}}``): a
    head's own options, read by that head (``Head.parse_settings``) when the model has it.
    ``caller``: each frame's result to the calling Python program (set by
    ``Pipeline.stream()``; no option of a file or the command line).
    """

    sources: tuple[str, ...]
    model: ModelConfig = field(default_factory=ModelConfig)
    batching: BatchingConfig = field(default_factory=BatchingConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    draw: DrawConfig = field(default_factory=DrawConfig)
    tracking: TrackingConfig = field(default_factory=TrackingConfig)
    live: LiveConfig = field(default_factory=LiveConfig)
    performance: PerformanceConfig = field(default_factory=PerformanceConfig)
    decoder: DecoderThresholds = field(default_factory=DecoderThresholds)
    keypoints: KeypointThresholds = field(default_factory=KeypointThresholds)
    console: ConsoleConfig = field(default_factory=ConsoleConfig)
    events: EventsConfig = field(default_factory=EventsConfig)
    mqtt: MqttConfig = field(default_factory=MqttConfig)
    threads: ThreadsConfig = field(default_factory=ThreadsConfig)
    tiles: TilesConfig = field(default_factory=TilesConfig)
    motion: MotionConfig = field(default_factory=MotionConfig)
    log_level: int = logging.WARNING
    cameras: tuple[Camera, ...] = ()
    seats: int | None = None
    heads: Mapping[str, Mapping[str, object]] = field(default_factory=dict)
    caller: CallerConfig | None = None

    def __post_init__(self) -> None:
        if isinstance(self.sources, str) or not all(isinstance(s, str) for s in self.sources):
            raise ConfigError(f"SOURCE / sources: {self.sources!r} is not a list of strings")
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.sources and not self.cameras_change:
            raise ConfigError("give at least one SOURCE (on the command line or in --config: "
                              "sources = [...])")
        for name, section in SECTIONS.items():
            if not isinstance(getattr(self, name), section):
                raise ConfigError(f"PipelineConfig.{name}: {getattr(self, name)!r} is not "
                                  f"a {section.__name__}")
        if self.model.path is None:
            raise ConfigError("--model is required (on the command line or in --config: "
                              "[model].path)")
        if self.tracking.enabled is None:
            object.__setattr__(self, "tracking", dataclasses.replace(
                self.tracking, enabled=_tracks_by_default(self.sources, self.events)))
        _check_events(self.events, self.tracking)
        object.__setattr__(self, "cameras", tuple(self.cameras))
        if self.cameras:
            if not all(isinstance(c, Camera) for c in self.cameras):
                raise ConfigError(f"PipelineConfig.cameras: {self.cameras!r} is not a tuple "
                                  "of Camera")
            if len(self.cameras) != len(self.sources):
                raise ConfigError(f"PipelineConfig.cameras: {len(self.cameras)} cameras for "
                                  f"{len(self.sources)} sources; give one per source")
        if self.cameras_change:
            _check_seats(self)
        object.__setattr__(self, "heads", _head_tables(self.heads))

    @property
    def streams(self) -> int:
        """How many streams the run has: its seats, else one per source."""
        return len(self.sources) if self.seats is None else self.seats

    @property
    def cameras_change(self) -> bool:
        """Whether cameras come and go while the run goes on (``seats`` given), rather
        than being assigned once at the start."""
        return self.seats is not None

    @property
    def settings(self) -> StreamSettings:
        """The run's own stream settings (``[live]``, ``[draw]``), before any camera's."""
        return StreamSettings(live=self.live, draw=self.draw)

    def settings_for(self, stream: int) -> StreamSettings:
        """The settings of ``stream``: the run's, with its camera's own (if any)."""
        camera = self.cameras[stream] if stream < len(self.cameras) else None
        return self.settings.for_camera(camera)

    def live_for(self, stream: int) -> LiveConfig:
        """The ``[live]`` settings of ``stream``, with its camera's own transport."""
        return self.settings_for(stream).live

    def draw_for(self, stream: int) -> DrawConfig:
        """The ``[draw]`` settings of ``stream``, with its camera's own face blurring."""
        return self.settings_for(stream).draw

MAX_STREAMS = 256


HEAD_TABLE = "head"  # a pipeline file's [head.<name>] tables (PipelineConfig.heads)


def _head_tables(heads: object) -> dict[str, dict[str, object]]:
    """``heads`` as ``{name: {key: value}}`` (copies); ConfigError if it is not one."""
    if not isinstance(heads, Mapping) or not all(
            isinstance(name, str) and isinstance(table, Mapping) for name, table in heads.items()):
        raise ConfigError(f"PipelineConfig.heads: {heads!r} is not a {{head name: table}} "
                          "mapping ([head.<name>] tables)")
    return {name: dict(table) for name, table in heads.items()}


def _check_seats(config: PipelineConfig) -> None:
    """Seats (``--max-streams``) carry cameras of a cameras file: live ones, no more
    than there are seats."""
    seats = config.seats
    if not isinstance(seats, int) or isinstance(seats, bool) or not 1 <= seats <= MAX_STREAMS:
        raise ConfigError(f"--max-streams {seats!r}: give a whole number from 1 to "
                          f"{MAX_STREAMS}")
    if len(config.sources) != len(config.cameras):
        raise ConfigError("--max-streams: the cameras come from a cameras file (--cameras)")
    if len(config.cameras) > seats:
        raise ConfigError(f"--max-streams {seats}: the cameras file has {len(config.cameras)} "
                          "cameras; give at least that many streams")
    for camera in config.cameras:
        if not camera.is_live:
            raise ConfigError(f"camera {camera.name!r}: {camera.url} is a file; cameras "
                              "added and removed while the run goes on (--max-streams, a "
                              "watched cameras file) are live cameras (rtsp://, http://, "
                              "a webcam)")


def _tracks_by_default(sources: tuple[str, ...], events: EventsConfig) -> bool:
    """Tracking unless every source is images (unrelated photos share no people), or
    when event rules follow tracked people."""
    photos = bool(sources) and all(not is_url(s) and is_image_uri(s) for s in sources)
    return events.enabled or not photos


def _check_events(events: EventsConfig, tracking: TrackingConfig) -> None:
    """Events need rules to write, and tracked people to follow."""
    if events.jsonl is not None and not events.enabled:
        raise ConfigError(f"--events {events.jsonl}: no event rules; add --line, --zone or "
                          "--fall (or [[events.line]], [[events.zone]], [events.fall] in "
                          "--config)")
    if events.enabled and not tracking.enabled:
        raise ConfigError("events (--line, --zone, --fall, [events]) follow tracked people: "
                          "remove --no-tracking ([tracking].enabled = false)")


def _sections() -> dict[str, type[Section]]:
    """The PipelineConfig fields whose value is a section, in order: {table: section}."""
    hints = typing.get_type_hints(PipelineConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(PipelineConfig)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], Section)}


# The TOML tables (= PipelineConfig attributes) and their sections, in file order.
SECTIONS: dict[str, type[Section]] = _sections()
