"""The run plan: everything the stages are built from, checked before anything starts.

:func:`streampose.planning.validate.validate` makes it (validating the config, probing
the sources, resolving the model, choosing the backend and the processing strategy); each
stage class's ``outputs``/``build`` (see :mod:`streampose.runtime.topology`) reads the
parts and config sections it needs. The plan is complete when made (thread plan and
process layout included) and never changes; what the run shares while it goes on is
:class:`streampose.planning.run_state.RunState`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from streampose.config.lineup import Lineup, lineup
from streampose.planning.interval import AUTO
from streampose.planning.layout import ProcessLayout
from streampose.runtime.threads import ThreadBudget, ThreadPlan

if TYPE_CHECKING:  # types only: every stage module imports this one, keep it light
    from streampose.backends.request import BackendRequest
    from streampose.config import PipelineConfig
    from streampose.models.spec import ModelSpec
    from streampose.outputs.factory import StreamFacts
    from streampose.planning.work_items import ItemPlanner
    from streampose.pose.letterbox import Letterbox
    from streampose.processing import Processing
    from streampose.sources.probe import ProbedSource

__all__ = ["RunPlan", "all_stream_facts", "process_count", "stream_facts"]


@dataclass(frozen=True)
class RunPlan:
    """A validated run: config, probed sources, model, backend, processing strategy,
    process layout, thread plan and which streams use motion regions; complete when made
    (``validate`` in :mod:`streampose.planning.validate`)."""

    config: PipelineConfig
    sources: tuple[ProbedSource, ...]
    spec: ModelSpec
    backend: BackendRequest
    processing: Processing
    letterboxes: frozenset[Letterbox]
    layout: ProcessLayout
    threads: ThreadPlan
    motion: tuple[bool, ...] = ()  # per stream: motion regions on (--motion); () none

    def budget(self, kind: str) -> ThreadBudget:
        """The thread budget of a stage kind."""
        return self.threads.budget(kind)

    @property
    def work(self) -> ItemPlanner:
        """A frame size's work items (whole frame or tiles), from ``[model]`` and
        ``[tiles]`` (:mod:`streampose.planning.work_items`)."""
        from streampose.planning.work_items import ItemPlanner

        return ItemPlanner.from_config(self.config, self.spec)

    def motion_on(self, stream: int) -> bool:
        """Whether ``stream`` uses motion regions (``--motion``)."""
        return stream < len(self.motion) and self.motion[stream]

    def posts_tracked(self, stream: int) -> bool:
        """Whether render posts ``stream``'s tracked people's boxes on its board for
        preprocess: motion regions keep them inferred, ``--interval auto`` reads their
        speed."""
        return self.motion_on(stream) or self.config.model.interval == AUTO

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
        seat."""
        return self.lineup.names

    @property
    def recorded(self) -> tuple[bool, ...]:
        """Whether each stream's annotated video is written (a camera's ``record``)."""
        return self.lineup.recorded

    @property
    def totals(self) -> tuple[int | None, ...]:
        """Frames each stream will give, where known (files and image sets, at most
        ``--max-frames``)."""
        limit = self.config.performance.max_frames
        known = ([x for x in (s.info.frames, limit) if x is not None] for s in self.sources)
        return tuple(min(k) if k else None for k in known)

    @property
    def streams(self) -> int:
        return len(self.sources)

    @property
    def postprocess_workers(self) -> int:
        return self.config.performance.postprocess_workers

    @property
    def processes(self) -> ProcessLayout:
        """The process layout: inference workers, preprocess and render shards."""
        return self.layout

    def count(self, per: str) -> int:
        """How many stages a topology step has ``per`` (:func:`process_count`)."""
        return process_count(self.layout, streams=self.streams,
                             postprocess_workers=self.postprocess_workers, per=per)


def process_count(layout: ProcessLayout, *, streams: int, postprocess_workers: int,
                  per: str) -> int:
    """How many stages a topology step has ``per`` stream, postprocess ``worker``,
    ``infer_worker``, ``preprocess_shard`` or ``render_shard`` (known before the plan is
    made: its thread plan needs it)."""
    return {"stream": streams, "postprocess_worker": postprocess_workers,
            "infer_worker": len(layout.infer), "preprocess_shard": len(layout.preprocess),
            "render_shard": len(layout.render)}[per]


def stream_facts(source: ProbedSource, camera: str = "camera",
                 record: bool = True) -> StreamFacts:
    """What the outputs need to know about a probed source (``camera``: its run name;
    ``record``: whether its annotated video is written)."""
    from streampose.outputs.factory import StreamFacts

    info = source.info
    return StreamFacts(width=info.width, height=info.height, time_base=info.time_base,
                       fps=info.fps, stem=source.stem, images=source.is_images,
                       live=source.live, names=source.names, camera=camera, record=record,
                       rotation=info.display_rotation)


def all_stream_facts(plan: RunPlan) -> list[StreamFacts]:
    """Every stream's facts, with its camera name and whether it is recorded."""
    return [stream_facts(s, c, r)
            for s, c, r in zip(plan.sources, plan.cameras, plan.recorded, strict=True)]
