"""Pipeline configuration: a frozen dataclass, validated on construction.

Every invalid value raises ConfigError naming the option, the value and what is allowed.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

from streampose.errors import ConfigError

DEVICE_OPS = ("auto", "on", "off")


@dataclass(frozen=True)
class LiveOptions:
    """TRANSITION (moved from the old media/live.py): the flat config's live options; the
    live code takes a :class:`streampose.config.sections.LiveConfig` (same field names)."""

    rtsp_transport: str = "tcp"
    open_timeout_s: float = 10.0
    read_timeout_s: float = 5.0
    stall_timeout_s: float = 5.0
    reconnect: bool = True
    max_backoff_s: float = 4.0

    def __post_init__(self) -> None:
        if self.rtsp_transport not in ("tcp", "udp"):
            raise ConfigError(f"rtsp_transport: {self.rtsp_transport!r} is not tcp or udp")
        for name in ("open_timeout_s", "read_timeout_s", "stall_timeout_s", "max_backoff_s"):
            value = getattr(self, name)
            if not 0.1 <= value <= 3600:
                raise ConfigError(f"{name}: {value!r} is outside 0.1..3600 seconds")


@dataclass(frozen=True)
class PipelineConfig:
    """What to run: sources, model, batching and outputs (the CLI's options)."""

    sources: tuple[str, ...]
    model: Path
    model_spec: Path | None = None
    weights: str | None = None
    backend: str = "onnxruntime"
    device: str | None = None  # None: the CPU, or the best device with backend "auto"
    threads: int | None = None
    device_ops: str = "auto"  # letterbox + peak NMS on the inference device: auto, on, off
    height: int = 368
    batch: int = 1
    max_wait_ms: float = 10.0
    max_frames: int | None = None
    video_out: str | None = None
    json_out: Path | None = None
    summary_out: Path | None = None
    coco_out: Path | None = None
    openpose_dir: Path | None = None
    tracking: bool = True
    ids: bool = True
    boxes: bool = False
    blur_faces: bool = False
    min_confidence: float = 0.0
    live: LiveOptions = field(default_factory=LiveOptions)
    live_slots: int = 4
    duration_s: float | None = None
    metrics_port: int | None = None
    metrics_host: str = "127.0.0.1"
    postprocess_workers: int = 1
    decode_threads: int = 1
    encoder_preset: str = "ultrafast"
    encoder_crf: int = 23
    encoder_threads: int = 1
    frame_slots: int | None = None
    drain_timeout_s: float = 10.0
    log_level: int = logging.WARNING
    decoder_options: dict[str, float] = field(default_factory=dict)
    backend_options: dict[str, object] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("sources: give at least one source")
        if self.device_ops not in DEVICE_OPS:
            raise ConfigError(f"device_ops: {self.device_ops!r} is not one of "
                              f"{', '.join(DEVICE_OPS)}")
        _int_at_least("height", self.height, 32)
        _int_at_least("batch", self.batch, 1, high=256)
        _int_at_least("postprocess_workers", self.postprocess_workers, 1, high=32)
        _int_at_least("decode_threads", self.decode_threads, 0, high=64)
        _int_at_least("encoder_threads", self.encoder_threads, 0, high=64)
        _int_at_least("encoder_crf", self.encoder_crf, 0, high=51)
        if self.max_frames is not None:
            _int_at_least("max_frames", self.max_frames, 1)
        if self.threads is not None:
            _int_at_least("threads", self.threads, 1, high=256)
        _int_at_least("live_slots", self.live_slots, 2, high=256)
        if self.duration_s is not None and not 0 < self.duration_s <= 10 ** 7:
            raise ConfigError(f"duration: {self.duration_s!r} must be a positive number of seconds")
        if self.metrics_port is not None:
            _int_at_least("metrics_port", self.metrics_port, 0, high=65535)
        if self.frame_slots is not None:
            _int_at_least("frame_slots", self.frame_slots, 4, high=1024)
        if not 0 <= self.max_wait_ms <= 10_000:
            raise ConfigError(f"max_wait_ms: {self.max_wait_ms} is outside 0..10000")

    @property
    def ring_slots(self) -> int:
        """Frame slots in flight: enough for two batches plus every stage's item."""
        return self.frame_slots or 2 * self.batch + 6

    def video_path(self, stream: int) -> Path | None:
        """The annotated output of ``stream``: a video file, or a folder for image sources.

        ``{stream}`` in the name is replaced by the stream index; without it, several
        sources get ``_<index>`` before the extension (``out.mp4`` -> ``out_0.mp4``, ...).
        """
        if not self.video_out:
            return None
        if "{stream}" in self.video_out:
            return Path(self.video_out.replace("{stream}", str(stream)))
        path = Path(self.video_out)
        if len(self.sources) == 1 or self.video_out.endswith(("/", "\\")):
            return path
        return path.with_name(f"{path.stem}_{stream}{path.suffix}")

    def video_is_folder(self, stream: int) -> bool:
        path = self.video_path(stream)
        return path is not None and (self.video_out.endswith(("/", "\\")) or path.is_dir())


def _int_at_least(name: str, value: object, low: int, *, high: int | None = None) -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low or \
            (high is not None and value > high):
        allowed = f"{low}..{high}" if high is not None else f">= {low}"
        raise ConfigError(f"{name}: {value!r} is not an integer in {allowed}")
