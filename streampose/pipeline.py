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
import functools
import logging
import signal
import threading
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

from streampose.backends.auto import resolve_backend
from streampose.backends.devices import parse_devices
from streampose.backends.request import BackendRequest
from streampose.config import PipelineConfig
from streampose.console.link import ConsoleLink
from streampose.errors import ConfigError, ModelError, OutputError, StreamposeError
from streampose.events.engine import EventEngine
from streampose.heads import HeadSettings, make_head
from streampose.models import ARCHITECTURES
from streampose.models.resolve import resolve_model
from streampose.models.spec import ModelSpec
from streampose.mqtt.client import require_paho
from streampose.mqtt.status import StatusPublisher
from streampose.observe.live import LiveView
from streampose.observe.summary import Progress, Summary
from streampose.outputs.factory import StreamFacts
from streampose.outputs.lock import OutputLocks, refuse_existing, run_outputs
from streampose.outputs.parts import clear_parts, join_parts
from streampose.outputs.registry import OUTPUTS, check_outputs
from streampose.pose import can_convert, get_skeleton
from streampose.pose.letterbox import Letterbox
from streampose.processing import choose_processing
from streampose.runtime.memory import available_memory, check_fits, shm_free
from streampose.runtime.spawner import warm
from streampose.runtime.stage import Stage
from streampose.runtime.supervisor import RunResult, Supervisor
from streampose.runtime.threads import ThreadPlan, ThreadSettings, available_cores, plan_threads
from streampose.runtime.topology import Step, Topology
from streampose.services.cameras import CameraService
from streampose.services.console import ConsoleService
from streampose.services.live import LiveService, decoders_ended
from streampose.services.metrics import MetricsService
from streampose.services.progress import ProgressService
from streampose.services.service import Service, ServiceSet
from streampose.services.status import StatusService
from streampose.services.summary import SummaryService
from streampose.sources.base import SourceInfo
from streampose.sources.live import LIVE_TIME_BASE
from streampose.sources.probe import LIVE_DEFAULT_SIZE, ProbedSource, probe_source
from streampose.stages.decode import SLOT_MAX_ASPECT, DecodeStage
from streampose.stages.infer import InferStage
from streampose.stages.layout import Layout, plan_layout
from streampose.stages.plan import RunPlan, process_count, stream_facts
from streampose.stages.postprocess import PostprocessStage
from streampose.stages.preprocess import PreprocessStage
from streampose.stages.reload import CameraAssigner
from streampose.stages.render import RenderStage
from streampose.stages.run_state import RunState
from streampose.stages.slots import SlotTable
from streampose.stages.work_items import ItemPlanner
from streampose.uri import is_image_uri, redact

__all__ = ["STEPS", "OutputError", "Pipeline", "Progress", "Summary", "run"]

log = logging.getLogger(__name__)

# The pipeline, in data-flow order. Render releases each frame slot after writing it.
# Preprocess and render are sharded by stream (each shard owns some streams); the
# inference workers share the input ring; see streampose.stages.layout.
# Every channel a stage uses is declared here: the topology makes these and no others.
# Infer reads the frame rings when the processing strategy letterboxes on the device.
STEPS = (
    Step(DecodeStage, writes=("frames[stream]", "doorbell[shard]"), per="stream"),
    Step(PreprocessStage, reads=("frames[stream]", "doorbell[shard]"),
         writes=("inputs", "preprocess_done"), per="preprocess_shard"),
    Step(InferStage, reads=("inputs", "frames[stream]"), writes=("maps", "infer_done"),
         per="infer_worker"),
    Step(PostprocessStage, reads=("maps",), writes=("results[shard]",), per="worker"),
    Step(RenderStage, reads=("results[shard]", "frames[stream]"), per="render_shard"),
)


class Pipeline:
    """Runs one configuration; ``run()`` may be called once.

    ``cameras_file``: with stream slots (``config.slots``), the cameras file to watch:
    re-read when it changes or on SIGHUP, its difference applied while the run goes on
    (:mod:`streampose.stages.reload`).
    """

    def __init__(self, config: PipelineConfig, *, cameras_file: Path | None = None) -> None:
        self.config = config
        self.cameras_file = cameras_file
        self.assigner: CameraAssigner | None = None
        self.plan = validate(config)
        self.topology = Topology(STEPS, counts=self.plan.count)
        self.plan.threads.log(log)
        self.console: ConsoleLink | None = None  # the web console's shared state, while it runs
        check_fits(self.topology.ring_bytes(self.plan), memory=available_memory(),
                   shm=shm_free(), sizes=_sizes(self.plan))

    def run(self, on_progress: Callable[[Progress], None] | None = None) -> Summary:
        shards = len(self.plan.processes.render)
        spanning = OUTPUTS.spanning(self.config)
        clear_parts(spanning, shards)
        try:
            summary = self._locked(on_progress)
        except BaseException:  # keep what the shards wrote, as one render would have
            with contextlib.suppress(OutputError):
                join_parts(spanning, shards)
            raise
        join_parts(spanning, shards)  # every stage has exited by now
        return summary

    def _locked(self, on_progress: Callable[[Progress], None] | None) -> Summary:
        cfg, plan = self.config, self.plan
        with OutputLocks(run_outputs(cfg, plan.streams, cameras=plan.cameras,
                                     recorded=plan.recorded),
                         refuse=not cfg.outputs.overwrite):
            return self._run(on_progress)

    def _run(self, on_progress: Callable[[Progress], None] | None) -> Summary:
        """Build the stages, start the services, run the supervisor; the summary."""
        cfg = self.config
        with Supervisor(log_level=cfg.log_level,
                        drain_timeout_s=cfg.performance.drain_timeout_s) as sup:
            state = RunState.create(self.plan, sup)
            self.console = state.console
            stages = self._stages(sup, state)
            view = self._view(sup, state)
            services, summaries = self._services(sup, state, view, on_progress)
            with services:  # the summary is written when they stop
                result, failure = self._supervise(sup, stages, services, view)
                services.tick(time.monotonic())  # the final figures, for every service
                summary = summaries.finish(result, failure)
        self.console = None  # its rings are gone with the supervisor
        if failure is not None:
            raise failure
        return summary

    def _stages(self, sup: Supervisor, state: RunState) -> list[Stage]:
        """Every stage, wired to its channels and the run's state, with its threads."""
        stages = self.topology.build(sup, self.plan, state)
        for stage in stages:
            stage.threads = self.plan.budget(stage.kind)
        return stages

    def _view(self, sup: Supervisor, state: RunState) -> LiveView:
        plan, cfg = self.plan, self.config
        return LiveView(sources=[s.info.uri for s in plan.sources], counters=state.counters,
                        latency=state.latency, started=time.monotonic(), cameras=plan.cameras,
                        live=[s.live for s in plan.sources], totals=self.totals(),
                        stale_s=cfg.live.stall_timeout_s,
                        ended=lambda: decoders_ended(sup, plan.streams))

    def _supervise(self, sup: Supervisor, stages: list[Stage], services: ServiceSet,
                   view: LiveView) -> tuple[RunResult, StreamposeError | None]:
        """Run the stages, ticking ``services``; a failure ends the run, not the summary."""
        try:
            return sup.run(stages, services.tick, duration_s=self.config.live.duration_s), None
        except StreamposeError as exc:  # the run started: its summary says how it ended
            result = RunResult(wall_s=time.monotonic() - view.started)
            sup.stop_stages()  # every stage has ended: the counters hold their last counts
            return result, exc

    def _services(self, sup: Supervisor, state: RunState, view: LiveView,
                  on_progress: Callable[[Progress], None] | None
                  ) -> tuple[ServiceSet, SummaryService]:
        """The run's services, in start order (they tick by phase), and its summary's."""
        live = LiveService(view=view, supervisor=sup)
        status = self._status_service(sup, live)  # a refused login stops the run there
        publisher = None if status is None else status.publisher
        cameras = CameraService(
            assign=lambda stack: self._assign(stack, state.slots, view, publisher))
        summary = SummaryService(path=self.config.outputs.summary,
                                 uris=[s.info.uri for s in self.plan.sources],
                                 counters=state.counters, latency=state.latency, view=view,
                                 cameras=cameras)
        services = [summary, status, live, *self._servers(state, view), cameras]
        if on_progress is not None:
            services.append(ProgressService(callback=on_progress, counters=state.counters,
                                            totals=self.totals, live=live, supervisor=sup))
        return ServiceSet([s for s in services if s is not None]), summary

    def _status_service(self, sup: Supervisor, live: LiveService) -> StatusService | None:
        """The MQTT availability and camera status (``--mqtt``)."""
        cfg, plan = self.config, self.plan
        if cfg.mqtt.url is None:
            return None
        publisher = StatusPublisher(cfg.mqtt, cameras=plan.cameras)
        return StatusService(publisher=publisher, live=live)

    def _servers(self, state: RunState, view: LiveView) -> list[Service]:
        """The metrics server (``--metrics-port``) and the web console (``--serve``)."""
        outputs, servers = self.config.outputs, list[Service]()
        if outputs.metrics_port is not None:
            servers.append(MetricsService(view=view, port=outputs.metrics_port,
                                          host=outputs.metrics_host))
        if state.console is not None:
            servers.append(ConsoleService(config=self.config.console, view=view,
                                          link=state.console))
        return servers

    def _assign(self, stack: contextlib.ExitStack, slots: SlotTable | None, view: LiveView,
                status: StatusPublisher | None) -> CameraAssigner | None:
        """With stream slots: the first cameras assigned, the file watched (and SIGHUP
        caught) while the run goes on; the views follow each slot's camera."""
        if not self.config.cameras_change:
            return None  # its cameras were assigned once, at the start
        assert isinstance(slots, SlotTable), "Pipeline.run adds the slot table"
        sources = list(view.sources)

        def changed(slot: int, name: str) -> None:
            camera = assigner.cameras.get(name)
            view.cameras[slot] = name
            sources[slot] = redact(camera.url) if camera is not None else ""
            view.sources = list(sources)
            if status is not None:
                status.rename(slot, name)

        assigner = CameraAssigner(slots, path=self.cameras_file, on_change=changed,
                                  counts=lambda slot: view.counters.snapshot()[slot])
        self.assigner = assigner
        assigner.start(self.config.cameras)
        if self.cameras_file is not None and \
                threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGHUP, lambda _s, _f: assigner.request())
            stack.callback(signal.signal, signal.SIGHUP, previous)
        return assigner

    def totals(self) -> list[int | None]:
        """Frames each stream will give, where known (files and image sets)."""
        limit = self.config.performance.max_frames
        known = ([x for x in (s.info.frames, limit) if x is not None] for s in self.plan.sources)
        return [min(k) if k else None for k in known]


def validate(config: PipelineConfig) -> RunPlan:
    """Everything checked and chosen before a process starts; one clear error otherwise."""
    model_cfg = config.model
    if model_cfg.path is None:
        raise ModelError("--model is required (on the command line or in --config)")
    built_in = str(model_cfg.path) in ARCHITECTURES
    devices = parse_devices(model_cfg.device)
    backend, device = resolve_backend(model_cfg.backend, devices[0] if devices else None,
                                      built_in=built_in)
    # a list is kept when the backend runs on it (auto may have fallen back to the CPU)
    devices = devices if len(devices) > 1 and device == devices[0] else (device,)
    model = resolve_model(model_cfg.path, spec=model_cfg.spec, weights=model_cfg.weights,
                          must_exist=backend != "fake")
    warm()  # the stages' fork server imports their modules while the sources are probed
    _check_cameras(config)
    work = ItemPlanner.from_config(config, model.spec)
    if config.cameras_change:  # stream slots: sized for any camera, none probed
        sources = _slot_sources(config)
        height = sources[0].sizes[0][1]  # and a reserve for frames up to 2:1 wide
        wide = int(SLOT_MAX_ASPECT * height)
        plans = _letterbox_plans(sources, work) | work.letterboxes([(wide, height)])
    else:
        sources = tuple(probe_source(uri, live=config.live_for(i))
                        for i, uri in enumerate(config.sources))
        plans = _letterbox_plans(sources, work)
    facts = [stream_facts(s, c.name, c.record) for s, c in zip(sources, config.cameras,
                                                              strict=False)] \
        if config.cameras else [stream_facts(s) for s in sources]
    _check_outputs(config, facts, model.spec)
    head = make_head(model.spec, HeadSettings(paf=config.decoder, keypoints=config.keypoints))
    processing = choose_processing(model_cfg.device_ops, backend=backend, device=device,
                                   head=head)
    if config.tiles.enabled and processing.reads_frames:
        raise ConfigError("--tiles auto: tiles are letterboxed on the host; give "
                          "--device-ops off")
    request = BackendRequest(name=backend, spec=model.spec, model_path=model.path,
                             device=device, threads=model_cfg.threads,
                             options=_backend_options(backend, model_cfg.backend_options, plans))
    if config.mqtt.url is not None:
        require_paho()
    layout = _layout(config, sources, devices)
    threads = thread_plan(config, _processes(config, layout, len(sources)),
                          device=request.device, streams=len(sources))
    plan = RunPlan(config=config, sources=sources, spec=model.spec, backend=request,
                   processing=processing, plans=plans, layout=layout, threads=threads)
    _check_events(plan)
    return plan


def _check_events(plan: RunPlan) -> None:
    """Every rule's camera is one of the run's and its anchor a point of the model's
    skeleton (the ``--events`` file is checked with the outputs)."""
    events = plan.config.events
    if not events.enabled:
        return
    rules = events.rules()
    for rule in rules:
        if plan.lineup.changing:
            break  # cameras come and go: a rule may name one that is not there yet
        if rule.camera is not None and rule.camera not in plan.cameras:
            raise ConfigError(f"[events] rule {rule.name!r}: camera = {rule.camera!r} is not "
                              f"one of this run's cameras ({', '.join(plan.cameras)})")
    skeleton = get_skeleton(plan.spec.skeleton)
    for camera in plan.cameras:
        EventEngine(camera=camera, rules=rules, skeleton=skeleton)


def thread_plan(cfg: PipelineConfig, layout: dict[str, int], *, device: str,
                streams: int) -> ThreadPlan:
    """The run's thread plan (:mod:`streampose.runtime.threads`): the cores this process
    may use, the stage layout (processes of each kind), the inference ``device`` and the
    config's overrides."""
    settings = ThreadSettings(cores=cfg.threads.cores, intra_op=cfg.model.threads,
                              inter_op=cfg.threads.inter_op, opencv=cfg.threads.opencv,
                              decode=cfg.performance.decode_threads,
                              encoder=cfg.performance.encoder_threads)
    return plan_threads(available_cores(), layout, settings,
                        cpu_inference=device == "cpu", streams=streams)


def _processes(config: PipelineConfig, layout: Layout, streams: int) -> dict[str, int]:
    """How many processes each stage kind has (:meth:`Topology.layout` of :data:`STEPS`)."""
    counts = functools.partial(process_count, layout, streams=streams,
                               workers=config.performance.postprocess_workers)
    return Topology(STEPS, counts=lambda per: counts(per=per)).layout()


def _layout(config: PipelineConfig, sources: tuple[ProbedSource, ...],
            devices: tuple[str, ...]) -> Layout:
    """The process layout; auto keeps one render process when a live run writes a file
    that spans streams (JSON lines, COCO), so that file grows as frames come out (with
    several render processes such files are written in parts, joined at the end)."""
    spans = bool(OUTPUTS.spanning(config))
    return plan_layout(config.performance, streams=len(sources), devices=devices,
                       threads=config.model.threads,
                       single_render=spans and any(s.live for s in sources))


def _letterbox_plans(sources: tuple[ProbedSource, ...], work: ItemPlanner
                     ) -> frozenset[Letterbox]:
    """Every network input the sources' frames give (whole frames or their tiles)."""
    return work.letterboxes({size for s in sources for size in s.sizes})


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


def _slot_sources(config: PipelineConfig) -> tuple[ProbedSource, ...]:
    """One stand-in per stream slot: a live source of the largest size a slot holds
    (1920x1080, or the largest of the first cameras, probed; larger frames are scaled to
    fit); the first cameras' URLs (redacted) where known."""
    # a camera that is down now is no reason to stop: it may be fixed or removed later
    lives = [replace(config.live_for(i), reconnect=True) for i in range(len(config.cameras))]
    sizes = [LIVE_DEFAULT_SIZE] + [size for c, live in zip(config.cameras, lives, strict=True)
                                   for size in probe_source(c.url, live=live).sizes]
    width, height = max(w for w, _ in sizes), max(h for _, h in sizes)
    idle = config.streams - len(config.cameras)
    uris = [redact(c.url) for c in config.cameras] + [""] * idle
    return tuple(ProbedSource(SourceInfo(uri=uri, width=width, height=height,
                                         time_base=LIVE_TIME_BASE, fps=None, frames=None,
                                         live=True), ((width, height),), live=True)
                 for uri in uris)


def _check_cameras(config: PipelineConfig) -> None:
    """A cameras file's cameras are single streams: a live URL, a webcam or a video
    file, not a set of images."""
    for camera in config.cameras:
        if not camera.is_live and is_image_uri(camera.url):
            raise ConfigError(f"camera {camera.name!r}: {camera.url} is images; a camera is "
                              "a live URL, a webcam or a video file")


def _check_outputs(config: PipelineConfig, streams: list[StreamFacts], spec: ModelSpec) -> None:
    check_outputs(config, streams)
    if not config.outputs.overwrite:
        refuse_existing(run_outputs(config, len(streams),
                                    cameras=[s.camera for s in streams],
                                    recorded=[s.record for s in streams]))
    skeleton = get_skeleton(spec.skeleton)
    for output in OUTPUTS.active(config):
        target = output.layout(skeleton) if output.layout is not None else None
        if target is not None and not can_convert(skeleton, target):
            raise ConfigError(f"{output.flag}: model {spec.name} gives {skeleton.name} poses, "
                              f"which do not convert to {target.name}")


def run(config: PipelineConfig, **kw: Any) -> Summary:
    """Run one pipeline configuration; the functional form of ``Pipeline(config).run()``."""
    return Pipeline(config).run(**kw)


