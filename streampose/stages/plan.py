"""The run plan: everything the stages are built from, checked before anything starts.

:class:`streampose.pipeline.Pipeline` makes it (validating the config, probing the
sources, resolving the model, choosing the backend and the processing strategy); each
stage class's ``outputs``/``build`` (see :mod:`streampose.runtime.topology`) reads the
parts and config sections it needs.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streampose.config.lineup import Lineup, lineup
from streampose.runtime.threads import ThreadBudget, ThreadPlan
from streampose.stages.layout import Layout

if TYPE_CHECKING:  # types only: every stage module imports this one, keep it light
    from streampose.backends.request import BackendRequest
    from streampose.config import PipelineConfig
    from streampose.console.link import ConsoleLink
    from streampose.models.spec import ModelSpec
    from streampose.observe.counters import StreamCounters
    from streampose.observe.stats import LatencyWindow
    from streampose.outputs.factory import StreamFacts
    from streampose.pose.letterbox import Letterbox
    from streampose.processing import Processing
    from streampose.sources.probe import ProbedSource
    from streampose.stages.slots import SlotTable

__all__ = ["RunPlan", "all_stream_facts", "stream_facts"]


@dataclass(frozen=True)
class RunPlan:
    """A validated run: config, probed sources, model, backend, processing strategy.

    ``counters`` and ``latency`` (shared-memory statistics), and ``console`` (the web
    console's shared state, with ``--serve``) are added when the run starts, since they
    need the supervisor's multiprocessing context; ``threads`` (the thread plan) once the
    topology is known (``Pipeline``).
    """

    config: PipelineConfig
    sources: tuple[ProbedSource, ...]
    spec: ModelSpec
    backend: BackendRequest
    processing: Processing
    plans: frozenset[Letterbox]
    counters: StreamCounters | None = None
    latency: LatencyWindow | None = None
    threads: ThreadPlan | None = None
    console: ConsoleLink | None = None
    layout: Layout | None = None  # None: one process of each stage (Layout.single)
    slots: SlotTable | None = None  # stream slots (config.slots): added by Pipeline.run

    def statistics(self) -> tuple[StreamCounters, LatencyWindow]:
        """The run's shared counters and latency windows (added by ``Pipeline.run``)."""
        if self.counters is None or self.latency is None:
            raise RuntimeError("this run plan has no statistics yet: Pipeline.run adds them")
        return self.counters, self.latency

    def budget(self, kind: str) -> ThreadBudget:
        """The thread budget of a stage kind (without a thread plan: 1 thread each, the
        libraries' own defaults for the inference session and the codecs)."""
        return ThreadBudget(kind=kind) if self.threads is None else self.threads.budget(kind)

    @property
    def input_height(self) -> int:
        """The network input height asked for: ``--height``, else the spec's."""
        return self.config.model.height or self.spec.input_height

    @property
    def lineup(self) -> Lineup:
        """Each stream's camera at the start, and whether the cameras change
        (:mod:`streampose.config.lineup`)."""
        cfg = self.config
        return lineup(cfg.cameras, [s.info.uri for s in self.sources], cfg.settings,
                      changing=cfg.cameras_change)

    @property
    def cameras(self) -> tuple[str, ...]:
        """Each stream's name, unique in the run: its camera's in a cameras file, else a
        short name made from its URI (:func:`streampose.uri.camera_name`); "" for an idle
        stream slot."""
        return self.lineup.names

    @property
    def recorded(self) -> tuple[bool, ...]:
        """Whether each stream's annotated video is written (a camera's ``record``)."""
        return self.lineup.recorded

    @property
    def streams(self) -> int:
        return len(self.sources)

    @property
    def workers(self) -> int:
        return self.config.performance.postprocess_workers

    @property
    def processes(self) -> Layout:
        """The process layout: inference workers, preprocess and render shards."""
        if self.layout is not None:
            return self.layout
        return Layout.single(self.streams, self.backend.device, self.backend.threads)

    def count(self, per: str) -> int:
        """How many stages a topology step has ``per`` stream, postprocess ``worker``,
        ``infer_worker``, ``preprocess_shard`` or ``render_shard``."""
        layout = self.processes
        return {"stream": self.streams, "worker": self.workers,
                "infer_worker": len(layout.infer), "preprocess_shard": len(layout.preprocess),
                "render_shard": len(layout.render)}[per]

    @property
    def file_slots(self) -> int:
        """Frame slots per file stream (one more batch per extra inference worker)."""
        performance, batch = self.config.performance, self.config.batching.batch
        if performance.frame_slots is not None:
            return performance.frame_slots
        return performance.ring_slots(batch) + (len(self.processes.infer) - 1) * batch


def stream_facts(source: ProbedSource, camera: str = "camera",
                 record: bool = True) -> StreamFacts:
    """What the outputs need to know about a probed source (``camera``: its run name;
    ``record``: whether its annotated video is written)."""
    from streampose.outputs.factory import StreamFacts

    info = source.info
    return StreamFacts(width=info.width, height=info.height, time_base=info.time_base,
                       fps=info.fps, stem=source.stem, images=source.is_images,
                       live=source.live, names=source.names, camera=camera, record=record)


def all_stream_facts(plan: RunPlan) -> list[StreamFacts]:
    """Every stream's facts, with its camera name and whether it is recorded."""
    return [stream_facts(s, c, r)
            for s, c, r in zip(plan.sources, plan.cameras, plan.recorded, strict=True)]
