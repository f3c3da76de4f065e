"""Pipeline: the public Python API behind ``streampose run``.

    from streampose import Pipeline, PipelineConfig
    summary = Pipeline(PipelineConfig(sources=("in.mp4",), model=Path("m.onnx"),
                                      video_out="out.mp4")).run()

Inputs and outputs are checked in this process before any stage starts, so bad input
fails fast with one clear error. Then the supervisor runs decode (one per source),
preprocess, infer, postprocess (one or more) and render, each in its own process.
(Stages are spawned: guard a script's entry point with ``if __name__ == "__main__":``.)
"""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from streampose.backends.auto import choose_backend, importable
from streampose.config import PipelineConfig
from streampose.config.sections import LiveConfig
from streampose.errors import ConfigError, ModelError, OutputError
from streampose.models import ARCHITECTURES, architecture_spec
from streampose.models.spec import ModelSpec, resolve_spec
from streampose.pose import Skeleton, get_skeleton
from streampose.pose.decoder import DecoderThresholds
from streampose.pose.letterbox import Letterbox, plan_letterbox
from streampose.runtime.counters import StreamCounters
from streampose.runtime.live import LiveView
from streampose.runtime.stage import Stage
from streampose.runtime.stats import LatencyWindow
from streampose.runtime.supervisor import RunResult, Supervisor
from streampose.sinks import draw
from streampose.sinks.jsonl import check_writable
from streampose.sinks.metrics import MetricsServer, MetricsSnapshot
from streampose.sinks.outputs import (
    CocoResultsSink,
    ImageFolderSink,
    JsonLinesSink,
    OpenPoseJsonSink,
    Sink,
    VideoSink,
)
from streampose.sources import ProbedSource, create_source, probe_source, redact
from streampose.stages.decode import DecodeStage, policy_for
from streampose.stages.infer import InferStage
from streampose.stages.payload import peak_payload_bytes
from streampose.stages.postprocess import PostprocessStage
from streampose.stages.preprocess import PreprocessStage
from streampose.stages.render import RenderStage
from streampose.transport.ring import SharedRing

log = logging.getLogger(__name__)

DEFAULT_FPS = Fraction(25)


@dataclass
class Progress:
    """What a progress display needs, refreshed while the pipeline runs."""

    streams: list[dict[str, int]]
    totals: list[int | None]
    elapsed_s: float
    pids: dict[str, int] = field(default_factory=dict)
    live: MetricsSnapshot | None = None


@dataclass
class Summary:
    """The run summary (``--summary``): per stream counts, per stage load, timing."""

    streams: list[dict[str, Any]]
    stages: list[dict[str, Any]]
    wall_s: float
    signal: int | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def frames_out(self) -> int:
        return sum(s["frames_out"] for s in self.streams)

    @property
    def fps(self) -> float:
        """Frames out per second of wall time, start-up (spawning, model loading) included."""
        return self.frames_out / self.wall_s if self.wall_s > 0 else 0.0

    @property
    def steady_fps(self) -> float | None:
        """Frames out per second between the first and the last frame out."""
        render = next((s for s in self.stages if s["stage"] == "render"), {})
        return render.get("steady_fps")

    def to_json(self) -> dict[str, Any]:
        return {"streams": self.streams, "stages": self.stages, "wall_s": round(self.wall_s, 3),
                "fps": round(self.fps, 3), "steady_fps": self.steady_fps,
                "signal": self.signal, **self.extra}


class Pipeline:
    """Runs one configuration; ``run()`` may be called once."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.backend, self.device = self._choose_backend()
        self.device_ops = self._choose_device_ops()
        self.model_path: Path | None = config.model
        self.spec: ModelSpec = self._resolve_model()
        self.skeleton: Skeleton = get_skeleton(self.spec.skeleton)
        self.live = _live_config(config)
        self.sources: list[ProbedSource] = [probe_source(uri, live=self.live)
                                            for uri in config.sources]
        self._check_outputs()

    def run(self, on_progress: Callable[[Progress], None] | None = None) -> Summary:
        cfg = self.config
        with Supervisor(log_level=cfg.log_level, drain_timeout_s=cfg.drain_timeout_s) as sup, \
                contextlib.ExitStack() as stack:
            counters = StreamCounters(streams=len(self.sources), ctx=sup.ctx)
            latency = LatencyWindow(streams=len(self.sources), ctx=sup.ctx)
            stages = self._build(sup, counters, latency)
            view = LiveView(sources=list(cfg.sources), counters=counters, latency=latency,
                            started=time.monotonic())
            if cfg.metrics_port is not None:
                server = MetricsServer(port=cfg.metrics_port, host=cfg.metrics_host,
                                       snapshot=lambda: view.latest)
                server.start()
                stack.callback(server.close)
                log.info("Prometheus metrics at %s", server.url)

            def tick(now: float) -> None:
                live = view.update(now, sup.stage_stats)
                if on_progress is not None:
                    on_progress(Progress(counters.snapshot(), self._totals(),
                                         now - view.started, sup.pids, live))

            result = sup.run(stages, tick, duration_s=cfg.duration_s)
            summary = self._summary(result, counters, latency)
        if cfg.summary_out is not None:
            cfg.summary_out.write_text(json.dumps(summary.to_json(), indent=2) + "\n")
        return summary

    # -- checks before anything starts ----------------------------------------------------

    def _choose_backend(self) -> tuple[str, str]:
        cfg = self.config
        if cfg.backend != "auto":
            return cfg.backend, cfg.device or "cpu"
        built_in = str(cfg.model) in ARCHITECTURES
        return choose_backend(onnx_file=not built_in, device=cfg.device)

    def _choose_device_ops(self) -> bool:
        """Letterbox and peaks on the inference device: by default only where the batch
        stays on a GPU (torch or TensorRT on CUDA); ``on`` forces it (any backend, via torch)."""
        mode = self.config.device_ops
        if mode == "auto":
            return self.backend in ("torch", "tensorrt") and self.device.startswith("cuda")
        if mode == "on" and not importable("torch"):
            raise ConfigError("--device-ops on needs torch (pip install torch==2.13.0, or a "
                              "CUDA build)")
        return mode == "on"

    def _resolve_model(self) -> ModelSpec:
        """The spec, and the file the backend loads (an ONNX file or a checkpoint)."""
        cfg, model = self.config, self.config.model
        if str(model) in ARCHITECTURES:
            self.model_path = resolve_network_weights(str(model), cfg.weights)
            if cfg.model_spec is not None:
                return ModelSpec.from_toml(cfg.model_spec)
            return ModelSpec.from_dict(architecture_spec(str(model)), source=str(model))
        if self.backend != "fake" and not model.is_file():
            raise ModelError(f"model {model}: no such file")
        return resolve_spec(model, cfg.model_spec)

    def _check_outputs(self) -> None:
        cfg = self.config
        for stream, source in enumerate(self.sources):
            path = cfg.video_path(stream)
            if path is None:
                continue
            if source.is_images and not cfg.video_is_folder(stream):
                raise ConfigError(f"-o {cfg.video_out}: image sources are written to a "
                                  "folder: end the path with '/' (e.g. -o annotated/)")
            if not cfg.video_is_folder(stream):
                check_writable(path, "video output")
        for path, what in ((cfg.json_out, "JSON lines output"), (cfg.summary_out, "summary"),
                           (cfg.coco_out, "COCO results")):
            if path is not None:
                check_writable(path, what)
        if cfg.coco_out is not None and not self.skeleton.coco17:
            raise ConfigError(f"--coco: skeleton {self.skeleton.name} has no COCO mapping")

    def _totals(self) -> list[int | None]:
        limit = self.config.max_frames
        totals = []
        for source in self.sources:
            known = [x for x in (source.info.frames, limit) if x is not None]
            totals.append(min(known) if known else None)
        return totals

    # -- building the stages ------------------------------------------------------------

    def _build(self, sup: Supervisor, counters: StreamCounters,
               latency: LatencyWindow) -> list[Stage]:
        cfg, spec = self.config, self.spec
        input_bytes, map_bytes = self._tensor_bytes()
        slots = cfg.ring_slots
        frames = [sup.ring(name=f"frames{i}", slots=cfg.live_slots if s.live else slots,
                           slot_bytes=max(w * h * 3 for w, h in s.sizes),
                           policy="drop_oldest" if s.live else "block")
                  for i, s in enumerate(self.sources)]
        doorbell = sup.ctx.Semaphore(0)
        inputs = sup.ring(name="inputs", slots=cfg.batch + 2, slot_bytes=input_bytes)
        maps = sup.ring(name="maps", slots=cfg.batch + 2 + cfg.postprocess_workers,
                        slot_bytes=map_bytes)
        results = sup.ctx.Queue(maxsize=4 * slots * len(frames))
        streams = len(self.sources)
        stages: list[Stage] = [self._decoder(i, frames[i], doorbell, counters)
                               for i in range(streams)]
        stages.append(PreprocessStage(frames=frames, doorbell=doorbell, inputs=inputs,
                                      spec=spec, height=cfg.height, device_ops=self.device_ops))
        stages.append(InferStage(
            inputs=inputs, maps=maps, spec=spec, model_path=self.model_path,
            backend=self.backend, device=self.device, threads=cfg.threads, batch=cfg.batch,
            max_wait_ms=cfg.max_wait_ms, streams=streams,
            consumers=cfg.postprocess_workers, options=self._backend_options(),
            frames=frames if self.device_ops else None,
            keypoints=self.skeleton.num_keypoints, thresholds=cfg.decoder_options))
        stages += [PostprocessStage(maps=maps, results=results, skeleton=spec.skeleton,
                                    stride=spec.stride, heatmap_channels=spec.num_heatmaps,
                                    worker=w, thresholds=cfg.decoder_options)
                   for w in range(cfg.postprocess_workers)]
        stages.append(RenderStage(
            frames=frames, results=results, sinks=self._sinks(),
            skeleton=spec.skeleton, counters=counters, latency=latency,
            names=[list(s.names) if s.names else None for s in self.sources],
            annotators=functools.partial(draw.build_annotators, **self._draw_options()),
            tracker=self._tracker_factory()))
        return stages

    def _decoder(self, stream: int, ring: SharedRing, doorbell: Any,
                 counters: StreamCounters) -> Stage:
        cfg = self.config
        source = create_source(cfg.sources[stream], threads=cfg.decode_threads, live=self.live)
        return DecodeStage(stream=stream, source=source, ring=ring, doorbell=doorbell,
                           counters=counters, policy=policy_for(self.sources[stream], self.live),
                           max_frames=cfg.max_frames)

    def _backend_options(self) -> dict[str, Any]:
        """The user's backend options; TensorRT also gets the input size when there is only
        one, so its engine is built (or loaded) when the stage opens, not at the first frame."""
        options = dict(self.config.backend_options)
        plans = self._plans()
        if self.backend == "tensorrt" and len(plans) == 1 and "input_hw" not in options:
            lb = next(iter(plans))
            options["input_hw"] = (lb.in_h, lb.in_w)
        return options

    def _plans(self) -> set[Letterbox]:
        sizes = {size for s in self.sources for size in s.sizes}
        return {plan_letterbox(src_w=w, src_h=h, height=self.config.height,
                               stride=self.spec.stride) for w, h in sizes}

    def _tensor_bytes(self) -> tuple[int, int]:
        """Slot bytes of the input and map rings: the largest float32 input and maps over all
        frame sizes; with device ops, a plan-only input and fp16 PAFs plus the peak table."""
        spec, k = self.spec, self.skeleton
        if spec.num_heatmaps not in (k.num_keypoints, k.num_keypoints + 1):
            raise ModelError(f"model spec {spec.name}: {spec.num_heatmaps} heatmap channels do "
                             f"not fit skeleton {k.name} ({k.num_keypoints} keypoints)")
        plans = self._plans()
        map_hw = [(-(-lb.in_h // spec.stride), -(-lb.in_w // spec.stride)) for lb in plans]
        if self.device_ops:
            radius = DecoderThresholds(**self.config.decoder_options).nms_radius  # type: ignore[arg-type]
            return 64, max(peak_payload_bytes(spec.num_pafs, h, w, keypoints=k.num_keypoints,
                                              radius=radius) for h, w in map_hw)
        channels = spec.num_heatmaps + spec.num_pafs
        input_bytes = max(lb.in_w * lb.in_h * 3 for lb in plans) * 4
        return input_bytes, max(h * w for h, w in map_hw) * channels * 4

    def _sinks(self) -> list[Sink]:
        cfg = self.config
        sinks: list[Sink] = [self._image_sink(i, s) for i, s in enumerate(self.sources)
                             if cfg.video_path(i) is not None]
        if cfg.json_out is not None:
            sinks.append(JsonLinesSink(path=cfg.json_out))
        if cfg.coco_out is not None:
            sinks.append(CocoResultsSink(path=cfg.coco_out))
        if cfg.openpose_dir is not None:
            sinks.append(OpenPoseJsonSink(folder=cfg.openpose_dir,
                                          stems=[s.stem for s in self.sources]))
        return sinks

    def _image_sink(self, stream: int, source: ProbedSource) -> Sink:
        cfg, path = self.config, self.config.video_path(stream)
        assert path is not None
        if cfg.video_is_folder(stream):
            return ImageFolderSink(folder=path)
        info = source.info
        return VideoSink(stream=stream, path=path, width=info.width, height=info.height,
                         fps=info.fps or DEFAULT_FPS, time_base=info.time_base,
                         preset=cfg.encoder_preset, crf=cfg.encoder_crf,
                         threads=cfg.encoder_threads, fragmented=source.live)

    def _draw_options(self) -> dict[str, Any]:
        cfg = self.config
        return {"ids": cfg.ids and cfg.tracking, "boxes": cfg.boxes,
                "blur_faces": cfg.blur_faces, "min_confidence": cfg.min_confidence}

    def _tracker_factory(self) -> Callable[[], Any] | None:
        if not self.config.tracking:
            return None
        from streampose.pose.tracking import PoseTracker

        return PoseTracker

    def _summary(self, result: RunResult, counters: StreamCounters,
                 latency: LatencyWindow) -> Summary:
        streams = []
        for i, (source, counts) in enumerate(zip(self.sources, counters.snapshot(),
                                                 strict=True)):
            p50, p95 = latency.percentiles(i) or (None, None)
            streams.append({"stream": i, "source": redact(source.info.uri), **counts,
                            "latency_p50_s": _round(p50), "latency_p95_s": _round(p95)})
        stages = [{"stage": r.stage, "pid": r.pid, "items": r.items,
                   "busy": round(r.busy, 4), "busy_s": round(r.busy_s, 3), **r.extra}
                  for r in sorted(result.reports, key=lambda r: r.stage)]
        return Summary(streams, stages, result.wall_s, result.signal)


def resolve_network_weights(name: str, weights: str | None) -> Path | None:
    """Checkpoint of a built-in network: a file, ``random`` (untrained), or the registry's."""
    if weights == "random":
        log.warning("%s: untrained random weights (for plumbing and benchmarks only)", name)
        return None
    from streampose.models.registry import resolve_weights

    return resolve_weights(name, weights=weights)


def _live_config(cfg: PipelineConfig) -> LiveConfig:
    """TRANSITION: the flat config's live options as the LiveConfig the live code takes."""
    return LiveConfig(**asdict(cfg.live), slots=cfg.live_slots, duration_s=cfg.duration_s)


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def run(config: PipelineConfig, **kw: Any) -> Summary:
    """Run one pipeline configuration; the functional form of ``Pipeline(config).run()``."""
    return Pipeline(config).run(**kw)


__all__ = ["OutputError", "Pipeline", "Progress", "Summary", "run"]
