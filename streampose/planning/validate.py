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

from streampose.config import PipelineConfig
from streampose.mqtt.client import require_paho
from streampose.outputs.registry import OUTPUTS
from streampose.planning.checks import check_events, check_outputs_of
from streampose.planning.engine import choose_model, make_engine
from streampose.planning.layout import ProcessLayout, plan_layout
from streampose.planning.motion_items import motion_streams
from streampose.planning.plan import RunPlan, process_count, stream_facts
from streampose.planning.streams import plan_streams
from streampose.planning.work_items import ItemPlanner
from streampose.runtime.spawner import warm
from streampose.runtime.threads import ThreadPlan, ThreadSettings, available_cores, plan_threads
from streampose.runtime.topology import Step, Topology
from streampose.sources.probe import ProbedSource

__all__ = ["buffer_sizes", "thread_plan", "validate"]

log = logging.getLogger(__name__)

def validate(config: PipelineConfig, steps: Sequence[Step]) -> RunPlan:
    """Everything checked and chosen before a process starts; one clear error otherwise.
    ``steps``: the pipeline's topology (how many processes of each kind it runs sets the
    thread plan)."""
    model = choose_model(config)
    warm()  # the stages' fork server imports their modules while the sources are probed
    spec = model.resolved.spec
    sources, letterboxes = plan_streams(config, ItemPlanner.from_config(config, spec))
    facts = [stream_facts(s, c.name, c.record) for s, c in zip(sources, config.cameras,
                                                              strict=False)] \
        if config.cameras else [stream_facts(s) for s in sources]
    check_outputs_of(config, facts, spec)
    engine = make_engine(config, model, letterboxes)
    if config.mqtt.url is not None:
        require_paho()
    layout = _layout(config, sources, engine.devices)
    threads = thread_plan(config, _processes(config, steps, layout, len(sources)),
                          device=engine.request.device, streams=len(sources))
    motion = motion_streams(config, sources, ItemPlanner.from_config(config, spec),
                            reads_frames=engine.processing.reads_frames)
    plan = RunPlan(config=config, sources=sources, spec=spec, backend=engine.request,
                   processing=engine.processing, letterboxes=letterboxes, layout=layout,
                   threads=threads, motion=motion)
    check_events(plan)
    return plan


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


def buffer_sizes(plan: RunPlan) -> str:
    """What sets the size of the run's buffers, for a message."""
    inputs = ", ".join(sorted(f"{lb.in_w}x{lb.in_h}" for lb in plan.letterboxes))
    return (f"network input {inputs}, --batch {plan.config.batching.batch}, "
            f"{plan.streams} stream(s)")
