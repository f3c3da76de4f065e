"""Pipeline: the public Python API behind ``streampose run``.

    from streampose import Pipeline, PipelineConfig
    summary = Pipeline(PipelineConfig(sources=("in.mp4",), model=Path("m.onnx"),
                                      video_out="out.mp4")).run()

Inputs and outputs are checked in this process before any stage starts, so bad input
fails fast with one clear error. Then the supervisor runs decode (one per source),
preprocess, infer, postprocess (one or more) and render, each in its own process.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from fractions import Fraction
from typing import Any

from streampose.config import PipelineConfig
from streampose.errors import ModelError
from streampose.media import SourceInfo, open_source
from streampose.models.spec import ModelSpec, resolve_spec
from streampose.pose import get_skeleton
from streampose.runtime.counters import StreamCounters
from streampose.runtime.stage import Stage
from streampose.runtime.supervisor import RunResult, Supervisor
from streampose.sinks.jsonl import check_writable
from streampose.stages.decode import DecodeStage
from streampose.stages.infer import InferStage
from streampose.stages.letterbox import plan_letterbox
from streampose.stages.postprocess import PostprocessStage
from streampose.stages.preprocess import PreprocessStage
from streampose.stages.render import EncoderOptions, RenderStage, StreamOutput

log = logging.getLogger(__name__)

DEFAULT_FPS = Fraction(25)


@dataclass
class Progress:
    """What a progress display needs, refreshed while the pipeline runs."""

    streams: list[dict[str, int]]
    totals: list[int | None]
    elapsed_s: float
    pids: dict[str, int] = field(default_factory=dict)


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
        self.spec: ModelSpec = self._resolve_model()
        self.sources: list[SourceInfo] = [self._probe(uri) for uri in config.sources]
        self._check_outputs()

    def run(self, on_progress: Callable[[Progress], None] | None = None) -> Summary:
        cfg = self.config
        with Supervisor(log_level=cfg.log_level, drain_timeout_s=cfg.drain_timeout_s) as sup:
            counters = StreamCounters(streams=len(self.sources), ctx=sup.ctx)
            stages = self._build(sup, counters)
            started = time.monotonic()
            tick = None
            if on_progress is not None:
                def tick(now: float) -> None:
                    on_progress(Progress(counters.snapshot(), self._totals(), now - started,
                                         sup.pids))
            result = sup.run(stages, tick)
            summary = self._summary(result, counters)
        if cfg.summary_out is not None:
            cfg.summary_out.write_text(json.dumps(summary.to_json(), indent=2) + "\n")
        return summary

    # -- checks before anything starts ----------------------------------------------------

    def _resolve_model(self) -> ModelSpec:
        model = self.config.model
        if self.config.backend != "fake" and not model.is_file():
            raise ModelError(f"model {model}: no such file")
        return resolve_spec(model, self.config.model_spec)

    def _probe(self, uri: str) -> SourceInfo:
        source = open_source(uri)
        try:
            return source.info
        finally:
            source.close()

    def _check_outputs(self) -> None:
        cfg = self.config
        for stream in range(len(self.sources)):
            path = cfg.video_path(stream)
            if path is not None:
                check_writable(path, "video output")
        for path, what in ((cfg.json_out, "JSON lines output"), (cfg.summary_out, "summary")):
            if path is not None:
                check_writable(path, what)

    def _totals(self) -> list[int | None]:
        limit = self.config.max_frames
        return [min(x for x in (info.frames, limit) if x is not None)
                if (info.frames or limit) else None for info in self.sources]

    # -- building the stages ------------------------------------------------------------

    def _build(self, sup: Supervisor, counters: StreamCounters) -> list[Stage]:
        cfg, spec = self.config, self.spec
        frame_bytes = max(i.width * i.height * 3 for i in self.sources)
        input_bytes, map_bytes = self._tensor_bytes()
        slots = cfg.ring_slots
        frames = sup.ring(name="frames", slots=slots, slot_bytes=frame_bytes)
        inputs = sup.ring(name="inputs", slots=cfg.batch + 2, slot_bytes=input_bytes)
        maps = sup.ring(name="maps", slots=cfg.batch + 2 + cfg.postprocess_workers,
                        slot_bytes=map_bytes)
        results = sup.ctx.Queue(maxsize=4 * slots)
        stages: list[Stage] = [
            DecodeStage(stream=i, uri=uri, ring=frames, counters=counters,
                        max_frames=cfg.max_frames, threads=cfg.decode_threads)
            for i, uri in enumerate(cfg.sources)]
        stages.append(PreprocessStage(frames=frames, inputs=inputs, spec=spec, height=cfg.height,
                                      streams=len(self.sources)))
        stages.append(InferStage(
            inputs=inputs, maps=maps, spec=spec, model_path=cfg.model, backend=cfg.backend,
            device=cfg.device, threads=cfg.threads, batch=cfg.batch,
            max_wait_ms=cfg.max_wait_ms, streams=len(self.sources),
            consumers=cfg.postprocess_workers, options=cfg.backend_options))
        stages += [PostprocessStage(maps=maps, results=results, skeleton=spec.skeleton,
                                    stride=spec.stride, heatmap_channels=spec.num_heatmaps,
                                    worker=w, thresholds=cfg.decoder_options)
                   for w in range(cfg.postprocess_workers)]
        stages.append(RenderStage(frames=frames, results=results, outputs=self._outputs(),
                                  skeleton=spec.skeleton, counters=counters,
                                  json_path=cfg.json_out, encoder=self._encoder()))
        return stages

    def _tensor_bytes(self) -> tuple[int, int]:
        """Largest network input and map tensors over all sources, in bytes (float32)."""
        spec, k = self.spec, get_skeleton(self.spec.skeleton)
        sizes = [plan_letterbox(src_w=i.width, src_h=i.height, height=self.config.height,
                                stride=spec.stride) for i in self.sources]
        channels = spec.num_heatmaps + spec.num_pafs
        if spec.num_heatmaps not in (k.num_keypoints, k.num_keypoints + 1):
            raise ModelError(f"model spec {spec.name}: {spec.num_heatmaps} heatmap channels do "
                             f"not fit skeleton {k.name} ({k.num_keypoints} keypoints)")
        input_bytes = max(lb.in_w * lb.in_h * 3 for lb in sizes) * 4
        map_bytes = max(-(-lb.in_w // spec.stride) * -(-lb.in_h // spec.stride)
                        for lb in sizes) * channels * 4
        return input_bytes, map_bytes

    def _outputs(self) -> list[StreamOutput]:
        return [StreamOutput(stream=i, width=info.width, height=info.height,
                             fps=info.fps or DEFAULT_FPS, time_base=info.time_base,
                             video=self.config.video_path(i))
                for i, info in enumerate(self.sources)]

    def _encoder(self) -> EncoderOptions:
        cfg = self.config
        return EncoderOptions(preset=cfg.encoder_preset, crf=cfg.encoder_crf,
                              threads=cfg.encoder_threads)

    def _summary(self, result: RunResult, counters: StreamCounters) -> Summary:
        streams = [{"stream": i, "source": info.uri, **counts}
                   for i, (info, counts) in enumerate(zip(self.sources, counters.snapshot(),
                                                          strict=True))]
        stages = [{"stage": r.stage, "pid": r.pid, "items": r.items,
                   "busy": round(r.busy, 4), "busy_s": round(r.busy_s, 3), **r.extra}
                  for r in sorted(result.reports, key=lambda r: r.stage)]
        return Summary(streams, stages, result.wall_s, result.signal)


def run(config: PipelineConfig, **kw: Any) -> Summary:
    """Run one pipeline configuration; the functional form of ``Pipeline(config).run()``."""
    return Pipeline(config).run(**kw)

