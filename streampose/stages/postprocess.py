"""Postprocess: each map-ring payload -> poses in original-frame pixels.

One payload is one work item (a whole frame, or a tile of one): its header's transform
maps it to frame pixels, the crop's offset folded in, and render merges a frame's items.
A pass-through item (no payload) becomes a result with no people, marked not inferred
(render carries the frame before's people onto it, with ``--interval``).
"""

from __future__ import annotations

import queue
from collections.abc import Sequence
from typing import Any

from streampose.planning.capacity import results_size
from streampose.planning.plan import RunPlan
from streampose.pose import Poses, get_skeleton
from streampose.pose.letterbox import input_to_frame
from streampose.processing import Processing
from streampose.runtime.channels import ChannelSpec, QueueSpec, StageChannels, Wiring
from streampose.runtime.stage import POLL_S, Stage
from streampose.transport.messages import FrameHeader, PoseResult
from streampose.transport.ring import SharedRing


def to_frame(poses: Poses, header: FrameHeader) -> Poses:
    """Network-input poses -> original-frame pixels through the item's letterbox transform
    (:func:`~streampose.pose.letterbox.input_to_frame`). Keypoints found in the letterbox
    padding are clamped to the frame's edge."""
    scale, offset = input_to_frame(header.transform)
    return poses.transformed(scale=scale, offset=offset).clipped(width=header.width,
                                                                 height=header.height)


class PostprocessStage(Stage):
    """Map ring -> results queue(s). Several may run in parallel; render restores order.

    With several render shards, each has its own results queue and a result goes to the
    queue of the shard that owns its stream (``route[stream]``).
    """

    kind = "postprocess"

    @classmethod
    def outputs(cls, plan: RunPlan, channels: StageChannels, index: int) -> list[ChannelSpec]:
        return [QueueSpec(name=channels.name("results", shard), maxsize=results_size(plan, shard))
                for shard in range(len(plan.processes.render))]

    @classmethod
    def build(cls, plan: RunPlan, wiring: Wiring[Any], index: int) -> PostprocessStage:
        layout, channels = plan.processes, wiring.channels
        return cls(maps=channels["maps"], results=channels.group("results"),
                   processing=plan.processing, worker=index,
                   route=[layout.render_shard(s) for s in range(plan.streams)])

    def __init__(self, *, maps: SharedRing, results: Any, processing: Processing,
                 worker: int = 0, route: Sequence[int] | None = None) -> None:
        """``results``: one queue, or a list of them with ``route`` giving each stream's
        queue index."""
        super().__init__()
        self.name = f"postprocess{worker}"
        self.maps, self.processing = maps, processing
        self.queues: list[Any] = list(results) if isinstance(results, list) else [results]
        self.route = list(route) if route is not None else None

    def step(self) -> bool:
        got = self.maps.acquire_read(POLL_S)
        if got is None:
            return True
        slot, header = got
        if header.eos:
            self.maps.release(slot)
            if header.stream < 0:
                return False
            return self._send(PoseResult(header))
        if header.passthrough:
            self.maps.release(slot)
            return self._send(self._nobody(header))
        with self.busy():
            poses = self.processing.decode(self.maps, slot, header)
            self.maps.release(slot)
            poses = to_frame(poses, header)
        self.items += 1
        return self._send(PoseResult(header, poses.keypoints, poses.scores, poses.boxes))

    def _nobody(self, header: FrameHeader) -> PoseResult:
        """A pass-through item's result: the frame, with no people, marked not inferred
        (its header keeps :data:`FLAG_PASS`: :attr:`PoseResult.inferred` is False)."""
        poses = Poses.empty(get_skeleton(self.processing.spec.skeleton))
        return PoseResult(header, poses.keypoints, poses.scores, poses.boxes)

    def _send(self, result: PoseResult) -> bool:
        stream = result.header.stream
        results = self.queues[self.route[stream] if self.route is not None else 0]
        while not self.stopping():
            try:
                results.put(result, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def close(self) -> None:
        if self.stopping():  # nobody may read what is still buffered: don't wait to flush it
            for results in self.queues:
                results.cancel_join_thread()
