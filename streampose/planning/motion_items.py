"""Motion regions as work items: per stream, what the network runs on for one frame.

:class:`MotionItems` is preprocess's per-stream state for ``--motion``: one
:class:`~streampose.regions.motion.RegionPlanner` per stream (its own background model,
made on the stream's first frame), fed every frame preprocess infers (its detector
every frame with ``--interval auto``: :mod:`~streampose.planning.frame_view`), with the
boxes of the people render tracks on that stream (read from the stream's tracked-boxes board,
:mod:`streampose.transport.tracked`; a frame or two old, which the region margin
covers). Its plan becomes work items through the run's
:class:`~streampose.planning.work_items.ItemPlanner`:

- ``"full"`` (the first frame, every ``full_every`` inferred frames, a new camera in
  the seat, a new frame size, regions covering most of the frame): the frame's usual
  items (the whole frame, or its tiles);
- ``"regions"``: crops around the motion and around the tracked people, at the scale the
  whole frame would have (:meth:`ItemPlanner.regions`), and the whole frame at the
  coarser scales of ``--min-person-height`` only when something moving or tracked is
  taller than the crops' scale sees well (a tall person walking in, or tracked); more
  items than
  :meth:`MotionItems.limit` (tiles inside large crops) give the frame's usual items;
- ``"still"``: no item; preprocess sends the frame through uninferred, and render
  carries the people it tracked onto it (:mod:`streampose.pose.carry`).

:func:`motion_streams` decides which streams use it (``--motion on``: all;
``auto``: see its doc). Frames that ``--interval`` skips never reach a planner here
(with ``auto``, only its detector sees them).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np

from streampose.errors import ConfigError
from streampose.planning.work_items import ItemPlanner, WorkItem
from streampose.regions.motion import MotionDetector, MotionSettings, PlanKind, RegionPlanner

if TYPE_CHECKING:
    from streampose.config import PipelineConfig
    from streampose.config.sections import MotionConfig
    from streampose.sources.probe import ProbedSource

__all__ = ["MotionItems", "motion_settings", "motion_streams"]


def motion_settings(config: MotionConfig) -> MotionSettings:
    """The ``[motion]`` table's thresholds."""
    names = [f.name for f in dataclasses.fields(MotionSettings)]
    return MotionSettings(**{name: getattr(config, name) for name in names})


def motion_streams(config: PipelineConfig, sources: Sequence[ProbedSource],
                   work: ItemPlanner, *, reads_frames: bool) -> tuple[bool, ...]:
    """Which streams use motion regions. ``off``: none; ``on``: all (ConfigError when
    the letterbox runs on the device, ``reads_frames``: crops are letterboxed on the
    host); ``auto``: a stream is on when the processing letterboxes on the host and it
    is live (a camera, RTSP, a webcam) or a video file whose whole-frame network input
    is larger than the model's square input (``input_height`` x ``input_height``), where
    crops save the most; image sets are off (their frames are unrelated)."""
    mode = config.motion.mode
    if mode == "off":
        return (False,) * len(sources)
    if reads_frames:
        if mode == "on":
            raise ConfigError("--motion on: motion regions are letterboxed on the host; "
                              "give --device-ops off")
        return (False,) * len(sources)
    if mode == "on":
        return (True,) * len(sources)
    return tuple(_worth_it(source, work) for source in sources)


def _worth_it(source: ProbedSource, work: ItemPlanner) -> bool:
    """``auto``: live, or a video whose frames' input is larger than the square input."""
    if source.live:
        return True
    if source.is_images:
        return False
    side = work.spec.input_height
    return any(_input_area(work, w, h) > side * side for w, h in source.sizes)


def _input_area(work: ItemPlanner, width: int, height: int) -> int:
    return sum(item.letterbox.in_w * item.letterbox.in_h for item in work.plan(width, height))


class MotionItems:
    """Per stream (``streams``: which use motion regions): a frame's plan and items."""

    def __init__(self, *, work: ItemPlanner, settings: MotionSettings,
                 streams: Sequence[bool]) -> None:
        self.work, self.settings = work, settings
        self._planners: list[RegionPlanner | None] = [
            RegionPlanner(settings=settings) if on else None for on in streams]

    def enabled(self, stream: int) -> bool:
        return stream < len(self._planners) and self._planners[stream] is not None

    def limit(self, width: int, height: int) -> int:
        """The most items a frame of this size gives: its usual items, or the regions."""
        return max(self.work.count(width, height), self.settings.max_regions)

    def restart(self, stream: int) -> None:
        """A new camera in the seat: the next frame is a full pass on a new background."""
        planner = self._planners[stream] if self.enabled(stream) else None
        if planner is not None:
            planner.reset()

    def detector(self, stream: int) -> MotionDetector | None:
        """``stream``'s motion detector (None: no motion regions on it)."""
        planner = self._planners[stream] if self.enabled(stream) else None
        return planner.detector if planner is not None else None

    def items(self, stream: int, frame: np.ndarray, tracked: np.ndarray,
              full: tuple[WorkItem, ...], motion: np.ndarray | None = None
              ) -> tuple[PlanKind, tuple[WorkItem, ...]]:
        """The plan's kind and items for ``stream``'s next inferred ``frame``;
        ``tracked``: ``(n, 4)`` boxes of its tracked people, frame pixels; ``full``: the
        frame's usual items (whole frame or tiles); ``motion``: the frame's motion boxes
        when its detector already ran on it (``--interval auto``)."""
        planner = self._planners[stream]
        assert planner is not None, f"stream {stream} does not use motion regions"
        plan = planner.plan(frame, tracked, motion)
        if plan.kind != "regions":
            return plan.kind, (full if plan.kind == "full" else ())
        height, width = frame.shape[:2]
        items = self.work.regions(width, height, plan.crops, limit=self.limit(width, height),
                                  tallest=_tallest(plan.motion, tracked))
        return ("regions", items) if items is not None else ("full", full)


def _tallest(motion: Sequence[tuple[int, int, int, int]], tracked: np.ndarray) -> float:
    """The height (frame pixels) of the tallest motion box or tracked person's box."""
    heights = [y2 - y1 for _, y1, _, y2 in motion]
    boxes = np.asarray(tracked, np.float64).reshape(-1, 4)
    heights += (boxes[:, 3] - boxes[:, 1]).tolist()
    return float(max(heights, default=0.0))
