"""Pipeline: the public Python API behind ``streampose run``.

    from streampose import Pipeline, PipelineConfig
    from streampose.config import ModelConfig, OutputsConfig
    summary = Pipeline(PipelineConfig(sources=("in.mp4",), model=ModelConfig(path=Path("m.onnx")),
                                      outputs=OutputsConfig(video="out.mp4"))).run()

or, each frame's result as it comes (:mod:`streampose.streaming`)::

    with Pipeline(config).stream() as results:
        for result in results:
            print(result.camera, result.frame, len(result.poses))

A pipeline does four things: it **validates** the config into a run plan before any
process starts (bad input fails fast with one clear error), **declares** its topology
(:data:`STEPS`), **runs** it under a supervisor, and **summarises** the run. Stages are
spawned: guard a script's entry point with ``if __name__ == "__main__":``. See
ARCHITECTURE.md for the path of one frame.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from streampose.config import PipelineConfig
from streampose.config.sections import CallerConfig
from streampose.console.link import ConsoleLink
from streampose.errors import OutputError, StreamposeError
from streampose.observe.live import LiveView
from streampose.observe.summary import Progress, Summary
from streampose.outputs.lock import OutputLocks, run_outputs
from streampose.outputs.parts import clear_parts, join_parts
from streampose.outputs.registry import OUTPUTS
from streampose.planning.run_state import RunState
from streampose.planning.validate import buffer_sizes, validate
from streampose.runtime.memory import available_memory, check_fits, shm_free
from streampose.runtime.stage import Stage
from streampose.runtime.supervisor import RunResult, Supervisor
from streampose.runtime.topology import Step, Topology
from streampose.services.assembly import RunServices
from streampose.services.service import ServiceSet
from streampose.stages.decode import DecodeStage
from streampose.stages.infer import InferStage
from streampose.stages.postprocess import PostprocessStage
from streampose.stages.preprocess import PreprocessStage
from streampose.stages.render import RenderStage

if TYPE_CHECKING:
    from streampose.streaming import Stream

__all__ = ["STEPS", "OutputError", "Pipeline", "Progress", "Summary", "run"]

log = logging.getLogger(__name__)

# The pipeline, in data-flow order. Render releases each frame slot after writing it.
# Preprocess and render are sharded by stream (each shard owns some streams); the
# inference workers share the input ring; see streampose.planning.layout.
# Every channel a stage uses is declared here: the topology makes these and no others.
# Infer reads the frame rings when the processing strategy letterboxes on the device.
# Render writes ``caller`` (each frame's result to the Python caller) only in a run for
# ``Pipeline.stream()``: the calling program reads it.
# Render posts each stream's tracked people on its tracked[stream] board, which
# preprocess reads to keep motion regions around them (--motion).
STEPS = (
    Step(DecodeStage, writes=("frames[stream]", "doorbell[shard]"), per="stream"),
    Step(PreprocessStage, reads=("frames[stream]", "doorbell[shard]", "tracked[stream]"),
         writes=("inputs", "preprocess_done"), per="preprocess_shard"),
    Step(InferStage, reads=("inputs", "frames[stream]"), writes=("maps", "infer_done"),
         per="infer_worker"),
    Step(PostprocessStage, reads=("maps",), writes=("results[shard]",), per="postprocess_worker"),
    Step(RenderStage, reads=("results[shard]", "frames[stream]"),
         writes=("caller", "tracked[stream]"),
         per="render_shard"),
)


class Pipeline:
    """Runs one configuration; ``run()`` may be called once.

    ``cameras_file``: with changing seats (``config.seats``), the cameras file to watch:
    re-read when it changes or on SIGHUP, its difference applied while the run goes on
    (:mod:`streampose.cameras.assigner`).
    """

    def __init__(self, config: PipelineConfig, *, cameras_file: Path | None = None) -> None:
        self.config = config
        self.cameras_file = cameras_file
        self.plan = validate(config, STEPS)
        self.topology = Topology(STEPS, counts=self.plan.count)
        self.plan.threads.log(log)
        self.console: ConsoleLink | None = None  # the web console's shared state, while it runs
        self.caller: Any = None  # the queue of each frame's result, in a run for stream()
        self._supervisor: Supervisor | None = None  # while it runs
        self._stopping = False
        check_fits(self.topology.ring_bytes(self.plan), memory=available_memory(),
                   shm=shm_free(), sizes=buffer_sizes(self.plan))

    def stream(self, *, images: bool = False, buffer: int = 8) -> Stream:
        """Run in the background and give each frame's result as it comes: an iterator
        and context manager of :class:`~streampose.outputs.stream.FrameResult`
        (:class:`~streampose.streaming.Stream`); ``images``: with each frame's picture;
        ``buffer``: results in flight at most (a live camera's further ones are dropped,
        a file's run waits). Replaces ``run()``: call one of them, once."""
        from streampose.streaming import Stream

        caller = CallerConfig(buffer=buffer, images=images)
        self.config = dataclasses.replace(self.config, caller=caller)
        self.plan = dataclasses.replace(self.plan, config=self.config)
        return Stream(self)

    def stop(self) -> None:
        """End the run as a first Ctrl-C would, but as a normal end: the sources stop,
        the frames in flight drain (from any thread; before the start: at once)."""
        self._stopping = True
        sup = self._supervisor
        if sup is not None:
            sup.stop_sources.set()

    def halt(self) -> None:
        """Stop every stage now (their outputs are closed): after a :meth:`stop` whose
        drain takes too long."""
        self._stopping = True
        sup = self._supervisor
        if sup is not None:
            sup.stop.set()

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
            self._supervisor = sup
            if self._stopping:  # stopped before the start
                sup.stop_sources.set()
            state = RunState.create(self.plan, sup)
            self.console = state.console
            stages = self._stages(sup, state)
            run = RunServices(plan=self.plan, state=state, supervisor=sup,
                              cameras_file=self.cameras_file, on_progress=on_progress)
            with run.services:  # the summary is written when they stop
                result, failure = self._supervise(sup, stages, run.services, run.view)
                run.services.tick(time.monotonic())  # the final figures, for every service
                summary = run.summary.finish(result, failure)
        self.console = self._supervisor = None  # its rings are gone with the supervisor
        if failure is not None:
            raise failure
        return summary

    def _stages(self, sup: Supervisor, state: RunState) -> list[Stage]:
        """Every stage, wired to its channels and the run's state, with its threads."""
        stages = self.topology.build(sup, self.plan, state)
        channels = self.topology.channels
        if channels is not None and "caller" in channels:
            self.caller = channels["caller"]
        for stage in stages:
            stage.threads = self.plan.budget(stage.kind)
        return stages

    def _supervise(self, sup: Supervisor, stages: list[Stage], services: ServiceSet,
                   view: LiveView) -> tuple[RunResult, StreamposeError | None]:
        """Run the stages, ticking ``services``; a failure ends the run, not the summary."""
        try:
            return sup.run(stages, services.tick, duration_s=self.config.live.duration_s), None
        except StreamposeError as exc:  # the run started: its summary says how it ended
            result = RunResult(wall_s=time.monotonic() - view.started)
            sup.stop_stages()  # every stage has ended: the counters hold their last counts
            return result, exc



def run(config: PipelineConfig, **kw: Any) -> Summary:
    """Run one pipeline configuration; the functional form of ``Pipeline(config).run()``."""
    return Pipeline(config).run(**kw)


