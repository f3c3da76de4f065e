"""Pipeline: the public Python API behind ``streampose run``.

    from streampose import Pipeline, PipelineConfig
    from streampose.config import ModelConfig, OutputsConfig
    summary = Pipeline(PipelineConfig(sources=("in.mp4",), model=ModelConfig(path=Path("m.onnx")),
                                      outputs=OutputsConfig(video="out.mp4"))).run()

A pipeline does four things: it **validates** the config into a run plan before any
process starts (bad input fails fast with one clear error), **declares** its topology
(:data:`STEPS`), **runs** it under a supervisor, and **summarises** the run. Stages are
spawned: guard a script's entry point with ``if __name__ == "__main__":``. See
ARCHITECTURE.md for the path of one frame.
"""

from __future__ import annotations

import contextlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from streampose.backends.auto import resolve_backend
from streampose.backends.request import BackendRequest
from streampose.config import PipelineConfig
from streampose.errors import ConfigError, ModelError, OutputError
from streampose.heads import HeadSettings, make_head
from streampose.models import ARCHITECTURES
from streampose.models.resolve import resolve_model
from streampose.models.spec import ModelSpec
from streampose.observe.counters import StreamCounters
from streampose.observe.live import LiveView
from streampose.observe.metrics import MetricsServer
from streampose.observe.stats import LatencyWindow
from streampose.observe.summary import Progress, Summary, summarise
from streampose.outputs.factory import StreamFacts, check_outputs
from streampose.outputs.lock import OutputLocks, refuse_existing, run_outputs
from streampose.outputs.openpose import openpose_layout
from streampose.pose import COCO17, can_convert, get_skeleton
from streampose.pose.letterbox import Letterbox, plan_for_spec
from streampose.processing import choose_processing
from streampose.runtime.memory import available_memory, check_fits, shm_free
from streampose.runtime.supervisor import Supervisor
from streampose.runtime.topology import Step, Topology
from streampose.sources.probe import ProbedSource, probe_source
from streampose.stages.decode import DecodeStage
from streampose.stages.infer import InferStage
from streampose.stages.plan import RunPlan, stream_facts
from streampose.stages.postprocess import PostprocessStage
from streampose.stages.preprocess import PreprocessStage
from streampose.stages.render import RenderStage

__all__ = ["STEPS", "OutputError", "Pipeline", "Progress", "Summary", "run"]

log = logging.getLogger(__name__)

# The pipeline, in data-flow order. Render releases each frame slot after writing it.
STEPS = (
    Step(DecodeStage, writes=("frames[stream]", "doorbell"), per="stream"),
    Step(PreprocessStage, reads=("frames[stream]", "doorbell"), writes=("inputs",)),
    Step(InferStage, reads=("inputs",), writes=("maps",)),
    Step(PostprocessStage, reads=("maps",), writes=("results",), per="worker"),
    Step(RenderStage, reads=("results", "frames[stream]")),
)


class Pipeline:
    """Runs one configuration; ``run()`` may be called once."""

    def __init__(self, config: PipelineConfig) -> None:
        self.config = config
        self.plan = validate(config)
        self.topology = Topology(STEPS, counts=self.plan.count)
        check_fits(self.topology.ring_bytes(self.plan), memory=available_memory(),
                   shm=shm_free(), sizes=_sizes(self.plan))

    def run(self, on_progress: Callable[[Progress], None] | None = None) -> Summary:
        cfg, plan = self.config, self.plan
        with OutputLocks(run_outputs(cfg.outputs, plan.streams),
                         refuse=not cfg.outputs.overwrite):
            return self._run(on_progress)

    def _run(self, on_progress: Callable[[Progress], None] | None) -> Summary:
        cfg, plan = self.config, self.plan
        with Supervisor(log_level=cfg.log_level,
                        drain_timeout_s=cfg.performance.drain_timeout_s) as sup, \
                contextlib.ExitStack() as stack:
            counters = StreamCounters(streams=plan.streams, ctx=sup.ctx)
            latency = LatencyWindow(streams=plan.streams, ctx=sup.ctx)
            plan = replace(plan, counters=counters, latency=latency)
            stages = self.topology.build(sup, plan)
            view = LiveView(sources=list(cfg.sources), counters=counters, latency=latency,
                            started=time.monotonic())
            self._serve_metrics(stack, view)

            def tick(now: float) -> None:
                live = view.update(now, sup.stage_stats)
                if on_progress is not None:
                    on_progress(Progress(counters.snapshot(), self.totals(),
                                         now - view.started, sup.pids, live))

            result = sup.run(stages, tick, duration_s=cfg.live.duration_s)
            summary = summarise([s.info.uri for s in plan.sources], result, counters, latency)
        if cfg.outputs.summary is not None:
            cfg.outputs.summary.write_text(json.dumps(summary.to_json(), indent=2) + "\n")
        return summary

    def totals(self) -> list[int | None]:
        """Frames each stream will give, where known (files and image sets)."""
        limit = self.config.performance.max_frames
        known = ([x for x in (s.info.frames, limit) if x is not None] for s in self.plan.sources)
        return [min(k) if k else None for k in known]

    def _serve_metrics(self, stack: contextlib.ExitStack, view: LiveView) -> None:
        outputs = self.config.outputs
        if outputs.metrics_port is None:
            return
        server = stack.enter_context(MetricsServer(port=outputs.metrics_port,
                                                   host=outputs.metrics_host,
                                                   snapshot=lambda: view.latest))
        log.info("Prometheus metrics at %s", server.url)


def validate(config: PipelineConfig) -> RunPlan:
    """Everything checked and chosen before a process starts; one clear error otherwise."""
    model_cfg = config.model
    if model_cfg.path is None:
        raise ModelError("--model is required (on the command line or in --config)")
    built_in = str(model_cfg.path) in ARCHITECTURES
    backend, device = resolve_backend(model_cfg.backend, model_cfg.device, built_in=built_in)
    model = resolve_model(model_cfg.path, spec=model_cfg.spec, weights=model_cfg.weights,
                          must_exist=backend != "fake")
    sources = tuple(probe_source(uri, live=config.live) for uri in config.sources)
    plans = _letterbox_plans(sources, model.spec, model_cfg.height)
    _check_outputs(config, [stream_facts(s) for s in sources], model.spec)
    head = make_head(model.spec, HeadSettings(paf=config.decoder, keypoints=config.keypoints))
    processing = choose_processing(model_cfg.device_ops, backend=backend, device=device,
                                   head=head)
    request = BackendRequest(name=backend, spec=model.spec, model_path=model.path,
                             device=device, threads=model_cfg.threads,
                             options=_backend_options(backend, model_cfg.backend_options, plans))
    return RunPlan(config=config, sources=sources, spec=model.spec, backend=request,
                   processing=processing, plans=plans)


def _letterbox_plans(sources: tuple[ProbedSource, ...], spec: ModelSpec,
                     height: int | None) -> frozenset[Letterbox]:
    sizes = {size for s in sources for size in s.sizes}
    return frozenset(plan_for_spec(spec, src_w=w, src_h=h, height=height) for w, h in sizes)


def _sizes(plan: RunPlan) -> str:
    """What sets the size of the run's buffers, for a message."""
    inputs = ", ".join(sorted(f"{lb.in_w}x{lb.in_h}" for lb in plan.plans))
    return (f"network input {inputs}, --batch {plan.config.batching.batch}, "
            f"{plan.streams} stream(s)")


def _backend_options(backend: str, options: dict[str, object],
                     plans: frozenset[Letterbox]) -> dict[str, object]:
    """The user's backend options; TensorRT also gets the input size when there is only
    one, so its engine is built (or loaded) when the stage opens, not at the first frame."""
    if backend == "tensorrt" and len(plans) == 1 and "input_hw" not in options:
        lb = next(iter(plans))
        return {**options, "input_hw": (lb.in_h, lb.in_w)}
    return dict(options)


def _check_outputs(config: PipelineConfig, streams: list[StreamFacts], spec: ModelSpec) -> None:
    check_outputs(config.outputs, streams)
    if not config.outputs.overwrite:
        refuse_existing(run_outputs(config.outputs, len(streams)))
    skeleton = get_skeleton(spec.skeleton)
    wanted = ((config.outputs.coco, "--coco", COCO17),
              (config.outputs.openpose_json, "--openpose-json", openpose_layout(skeleton)))
    for path, flag, target in wanted:
        if path is not None and not can_convert(skeleton, target):
            raise ConfigError(f"{flag}: model {spec.name} gives {skeleton.name} poses, which "
                              f"do not convert to {target.name}")


def run(config: PipelineConfig, **kw: Any) -> Summary:
    """Run one pipeline configuration; the functional form of ``Pipeline(config).run()``."""
    return Pipeline(config).run(**kw)


