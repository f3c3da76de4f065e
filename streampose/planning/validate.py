"""Validate a configuration into a run plan, in the parent, before any process starts.

:func:`validate` checks and chooses everything a run needs — the backend and device, the
model (a spec and a file), every source probed (or, with changing seats, sized for any
camera), the letterbox sizes, every output's writability, the event rules, the
processing strategy, the process layout and the thread plan — and returns a frozen
:class:`~streampose.planning.plan.RunPlan`. Bad input stops here with one clear error
(exit codes 2-5), before any process starts.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Sequence
from dataclasses import replace

from streampose.backends.auto import resolve_backend
from streampose.backends.devices import parse_devices
from streampose.backends.request import BackendRequest
from streampose.cameras.seats import SEAT_MAX_ASPECT
from streampose.config import PipelineConfig
from streampose.errors import ConfigError, ModelError
from streampose.events.engine import EventEngine
from streampose.events.rules import rules_from_config
from streampose.heads import head_settings, make_head
from streampose.models import ARCHITECTURES
from streampose.models.resolve import resolve_model
from streampose.models.spec import ModelSpec
from streampose.mqtt.client import require_paho
from streampose.outputs.factory import StreamFacts
from streampose.outputs.lock import refuse_existing, run_outputs
from streampose.outputs.registry import OUTPUTS, check_outputs
from streampose.planning.layout import ProcessLayout, plan_layout
from streampose.planning.plan import RunPlan, process_count, stream_facts
from streampose.planning.work_items import ItemPlanner
from streampose.pose import can_convert, get_skeleton
from streampose.pose.letterbox import Letterbox
from streampose.processing import choose_processing
from streampose.runtime.spawner import warm
from streampose.runtime.threads import ThreadPlan, ThreadSettings, available_cores, plan_threads
from streampose.runtime.topology import Step, Topology
from streampose.sources.base import SourceInfo
from streampose.sources.live import LIVE_TIME_BASE
from streampose.sources.probe import LIVE_DEFAULT_SIZE, ProbedSource, probe_source
from streampose.uri import is_image_uri, redact

__all__ = ["buffer_sizes", "thread_plan", "validate"]

log = logging.getLogger(__name__)

def validate(config: PipelineConfig, steps: Sequence[Step]) -> RunPlan:
    """Everything checked and chosen before a process starts; one clear error otherwise.
    ``steps``: the pipeline's topology (how many processes of each kind it runs sets the
    thread plan)."""
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
    if config.cameras_change:  # changing seats: sized for any camera, none probed
        sources = _seat_sources(config)
        height = sources[0].sizes[0][1]  # and a reserve for frames up to 2:1 wide
        wide = int(SEAT_MAX_ASPECT * height)
        plans = _letterbox_plans(sources, work) | work.letterboxes([(wide, height)])
    else:
        sources = tuple(probe_source(uri, live=config.live_for(i))
                        for i, uri in enumerate(config.sources))
        plans = _letterbox_plans(sources, work)
    facts = [stream_facts(s, c.name, c.record) for s, c in zip(sources, config.cameras,
                                                              strict=False)] \
        if config.cameras else [stream_facts(s) for s in sources]
    _check_outputs(config, facts, model.spec)
    head = make_head(model.spec, head_settings(model.spec, config))
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
    threads = thread_plan(config, _processes(config, steps, layout, len(sources)),
                          device=request.device, streams=len(sources))
    plan = RunPlan(config=config, sources=sources, spec=model.spec, backend=request,
                   processing=processing, letterboxes=plans, layout=layout, threads=threads)
    _check_events(plan)
    return plan


def _check_events(plan: RunPlan) -> None:
    """Every rule's camera is one of the run's and its anchor a point of the model's
    skeleton (the ``--events`` file is checked with the outputs)."""
    events = plan.config.events
    if not events.enabled:
        return
    rules = rules_from_config(events)
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


def _processes(config: PipelineConfig, steps: Sequence[Step], layout: ProcessLayout,
               streams: int) -> dict[str, int]:
    """How many processes each stage kind of ``steps`` has (:meth:`Topology.layout`)."""
    counts = functools.partial(process_count, layout, streams=streams,
                               postprocess_workers=config.performance.postprocess_workers)
    return Topology(steps, counts=lambda per: counts(per=per)).layout()


def _layout(config: PipelineConfig, sources: tuple[ProbedSource, ...],
            devices: tuple[str, ...]) -> ProcessLayout:
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


def buffer_sizes(plan: RunPlan) -> str:
    """What sets the size of the run's buffers, for a message."""
    inputs = ", ".join(sorted(f"{lb.in_w}x{lb.in_h}" for lb in plan.letterboxes))
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


def _seat_sources(config: PipelineConfig) -> tuple[ProbedSource, ...]:
    """One stand-in per seat: a live source of the largest size a seat holds
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

