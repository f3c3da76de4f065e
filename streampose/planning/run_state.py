"""The run's shared state: what the stages and the parent share while a run goes on.

The :class:`~streampose.planning.plan.RunPlan` is pure and complete before anything
starts; what needs the supervisor's multiprocessing context (shared counters, latency
windows, the web console's link, the seat table) is made when the run starts
(:meth:`RunState.create`) and handed to each stage's ``build`` beside the plan
(``wiring.run``, :class:`~streampose.runtime.channels.Wiring`).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from streampose.cameras.seats import SeatTable
from streampose.observe.counters import StreamCounters
from streampose.observe.stats import LatencyWindow

if TYPE_CHECKING:
    from streampose.console.link import ConsoleLink
    from streampose.planning.plan import RunPlan

__all__ = ["RunState"]


@dataclass(frozen=True)
class RunState:
    """``counters``/``latency``: per-stream statistics in shared memory; ``console``: the
    web console's shared state (``--serve``); ``seats``: which camera each stream carries
    (every run's; made with the run's first cameras assigned where they never change)."""

    counters: StreamCounters
    latency: LatencyWindow
    seats: SeatTable
    console: ConsoleLink | None = None

    @classmethod
    def create(cls, plan: RunPlan, maker: Any) -> RunState:
        """The run's shared state, made through ``maker`` (the supervisor: its context,
        and its rings for the console's previews)."""
        cfg, ctx = plan.config, maker.ctx
        return cls(counters=StreamCounters(streams=plan.streams, ctx=ctx),
                   latency=LatencyWindow(streams=plan.streams, ctx=ctx),
                   console=_console_link(plan, maker) if cfg.console.serve is not None else None,
                   seats=SeatTable.for_lineup(plan.lineup, cfg.sources, ctx=ctx))


def _console_link(plan: RunPlan, maker: Any) -> ConsoleLink:
    """The console's shared state (preview rings, flags, events queue), with --serve."""
    from streampose.console.link import ConsoleLink

    console = plan.config.console
    sizes = [(s.info.width, s.info.height) for s in plan.sources]
    return ConsoleLink.create(maker, sizes, max_width=console.preview_width,
                              fps=console.preview_fps)
