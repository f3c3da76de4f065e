"""The pipeline's configuration: one frozen dataclass per TOML table.

``PipelineConfig`` holds the sources and one section per table (``[model]``,
``[batching]``, ``[outputs]``, ``[draw]``, ``[tracking]``, ``[live]``,
``[performance]``, ``[decoder]``, ``[keypoints]``). Every option is a field made with
:func:`~streampose.config.fields.option`; the command line and the TOML schema are
generated from these fields, and each section validates its own values.
"""

from __future__ import annotations

import dataclasses
import logging
import typing
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from streampose.config.fields import Section, option
from streampose.errors import ConfigError

__all__ = [
    "SECTIONS",
    "BatchingConfig",
    "DecoderThresholds",
    "DrawConfig",
    "KeypointThresholds",
    "LiveConfig",
    "ModelConfig",
    "OutputsConfig",
    "PerformanceConfig",
    "PipelineConfig",
    "TrackingConfig",
]


@dataclass(frozen=True)
class ModelConfig(Section):
    """[model]: which network, where it runs, at what input size."""

    table: ClassVar[str] = "model"

    path: Path | None = option(None, flag="--model", help=(
        "model file (ONNX) or a built-in network name (lightweight-openpose); required "
        "here or in --config"))
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
        "network input height (default: the model spec's input_height, e.g. 368 for the "
        "OpenPose models; for specs with fit = \"long_side\", such as YOLO-pose, the long "
        "side of the image, e.g. 640)"))
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


@dataclass(frozen=True)
class OutputsConfig(Section):
    """[outputs]: where results go. Every path is optional; any combination works."""

    table: ClassVar[str] = "outputs"

    video: str | None = option(None, flag="--output", short="-o", metavar="OUT.mp4", path=True,
                               help=(
        "annotated video (H.264 MP4), or a folder ending in / for image sources; {stream} "
        "is replaced by the stream index"))
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
        "running streampose writes)"))

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.coco_ids is not None and self.coco is None:
            raise ConfigError(f"--coco-ids / [outputs].coco_ids = {self.coco_ids}: the ids "
                              "are for the COCO results file; give --coco OUT.json too")


@dataclass(frozen=True)
class DrawConfig(Section):
    """[draw]: what the annotated video shows."""

    table: ClassVar[str] = "draw"

    ids: bool = option(True, negate="--no-ids", help="draw person ids")
    boxes: bool = option(False, help="draw a box around each person")
    blur_faces: bool = option(False, help="blur a region around each head (privacy)")
    min_confidence: float = option(0.0, low=0.0, high=1.0,
                                   help="don't draw keypoints at or below this confidence")


@dataclass(frozen=True)
class TrackingConfig(Section):
    """[tracking]: person ids stable across frames (streampose.pose.tracking.PoseTracker)."""

    table: ClassVar[str] = "tracking"

    enabled: bool = option(True, negate="--no-tracking",
                           help="person ids (off: id -1 everywhere)")
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
                             help="reconnect a live stream that drops (off: end it)")
    max_backoff_s: float = option(4.0, low=0.1, high=3600, flag="",
                                  help="longest wait between reconnection attempts")
    slots: int = option(4, low=2, high=256, flag="",
                        help="frame slots per live stream (the most frames in flight)")
    duration_s: float | None = option(None, low=0.001, high=10 ** 7, flag="--duration",
                                      metavar="S", help=(
                                          "stop cleanly after S seconds (outputs finalised, "
                                          "exit 0)"))


@dataclass(frozen=True)
class PerformanceConfig(Section):
    """[performance]: worker counts, codec settings and buffer sizes."""

    table: ClassVar[str] = "performance"

    postprocess_workers: int = option(1, low=1, high=32, help="pose decoding processes")
    decode_threads: int = option(1, low=0, high=64, help="decoder threads per source")
    encoder_preset: str = option("ultrafast", help=(
        "x264 preset (ultrafast: least CPU; veryfast: ~3x smaller files)"))
    crf: int = option(23, low=0, high=51, help="x264 quality")
    encoder_threads: int = option(1, low=0, high=64, flag="", help="x264 threads per output")
    max_frames: int | None = option(None, low=1, high=2 ** 62,
                                    help="stop each source after N frames")
    frame_slots: int | None = option(None, low=4, high=1024, flag="", help=(
        "frame slots per file stream (default: two batches plus one per stage)"))
    drain_timeout_s: float = option(10.0, low=0.1, high=3600, flag="",
                                    help="longest wait for frames in flight at shutdown")

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
class PipelineConfig:
    """What to run: the sources and one section per TOML table."""

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
    log_level: int = logging.WARNING

    def __post_init__(self) -> None:
        if isinstance(self.sources, str) or not all(isinstance(s, str) for s in self.sources):
            raise ConfigError(f"SOURCE / sources: {self.sources!r} is not a list of strings")
        object.__setattr__(self, "sources", tuple(self.sources))
        if not self.sources:
            raise ConfigError("give at least one SOURCE (on the command line or in --config: "
                              "sources = [...])")
        for name, section in SECTIONS.items():
            if not isinstance(getattr(self, name), section):
                raise ConfigError(f"PipelineConfig.{name}: {getattr(self, name)!r} is not "
                                  f"a {section.__name__}")
        if self.model.path is None:
            raise ConfigError("--model is required (on the command line or in --config: "
                              "[model].path)")


def _sections() -> dict[str, type[Section]]:
    """The PipelineConfig fields whose value is a section, in order: {table: section}."""
    hints = typing.get_type_hints(PipelineConfig)
    return {f.name: hints[f.name] for f in dataclasses.fields(PipelineConfig)
            if isinstance(hints[f.name], type) and issubclass(hints[f.name], Section)}


# The TOML tables (= PipelineConfig attributes) and their sections, in file order.
SECTIONS: dict[str, type[Section]] = _sections()
