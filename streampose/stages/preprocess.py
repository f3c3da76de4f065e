"""Preprocess: each leased frame -> its work items' network-input slots (the frame stays
leased).

A frame gives the work items its :class:`~streampose.planning.work_items.ItemPlanner`
plans for its size: one (the whole frame, the default) or several (tiles), each
letterboxed from its crop into its own input slot, all with the frame's ticket; or, when
the planner gives none or the stream's interval skips the frame
(:mod:`streampose.planning.interval`), one pass-through item that no network runs on.
A stream with motion regions (``--motion``, :mod:`streampose.planning.motion_items`)
gives, on a frame it infers, its usual items (a full pass), crops around what moves and
around the people render tracks (read from the stream's ``tracked`` board), or, when the
scene is still and nobody is tracked, one pass-through item. With ``--interval auto``
each frame is looked at first (:mod:`streampose.planning.frame_view`: new motion, the
tracked people's speed from the board) and the stream's cadence decides on that.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from streampose.observe.counters import StreamCounters
from streampose.planning.capacity import input_slots
from streampose.planning.frame_view import FrameWatch
from streampose.planning.interval import AUTO, Cadence, IntervalPolicy, Policy, interval_policy
from streampose.planning.motion_items import MotionItems, motion_settings
from streampose.planning.plan import RunPlan
from streampose.planning.work_items import ItemPlanner, WorkItem
from streampose.processing import Processing
from streampose.runtime.channels import ChannelSpec, CountSpec, RingSpec, StageChannels, Wiring
from streampose.runtime.stage import POLL_S, Stage
from streampose.stages.ending import end_work
from streampose.transport.messages import FLAG_PASS, FRAME_CODEC, FrameHeader, FrameRef
from streampose.transport.ring import SharedRing
from streampose.transport.tracked import TrackedBoxes


class PreprocessStage(Stage):
    """Frame rings -> input ring; assigns each stream's gapless ``ticket``.

    A preprocess shard owns some streams (``frames`` holds None for the others). Their
    decoders ring the shard's ``doorbell`` semaphore after each item; the shard then takes
    the next item round-robin over its streams, so a fast camera cannot starve a slow one.
    What goes into the input slot is the processing strategy's business (a float32
    letterboxed image on the host, or nothing when the device letterboxes).

    End of work: once all its streams ended, a shard counts itself on ``finished``; the
    last shard to finish puts one end-of-work item (stream -1) per inference worker
    into the input ring, behind everything every shard published.
    """

    name = kind = "preprocess"

    @classmethod
    def outputs(cls, plan: RunPlan, channels: StageChannels, index: int) -> list[ChannelSpec]:
        return [RingSpec(name=channels.name("inputs"), slots=input_slots(plan),
                         codec=FRAME_CODEC,
                         slot_bytes=plan.processing.input_bytes(plan.letterboxes)),
                CountSpec(name=channels.name("preprocess_done"))]

    @classmethod
    def build(cls, plan: RunPlan, wiring: Wiring[Any], index: int) -> PreprocessStage:
        layout, channels = plan.processes, wiring.channels
        mine, model = layout.preprocess[index], plan.config.model
        frames = [ring if s in mine else None for s, ring in enumerate(channels.group("frames"))]
        motion = _motion(plan, mine, channels)
        return cls(frames=frames, doorbell=channels.at("doorbell", index),
                   inputs=channels["inputs"], processing=plan.processing,
                   planner=plan.work,
                   interval=interval_policy(model.interval, model.interval_max),
                   consumers=len(layout.infer),
                   finished=channels["preprocess_done"], peers=len(layout.preprocess),
                   counters=wiring.run.counters, motion=motion,
                   watch=_watch(plan, mine, channels, motion),
                   name=cls.kind if len(layout.preprocess) == 1 else f"{cls.kind}{index}")

    def __init__(self, *, frames: Sequence[SharedRing | None], doorbell: Any,
                 inputs: SharedRing, processing: Processing, planner: ItemPlanner,
                 interval: Policy | None = None, consumers: int = 1,
                 finished: Any = None, peers: int = 1,
                 counters: StreamCounters | None = None,
                 motion: tuple[MotionItems, Sequence[TrackedBoxes | None]] | None = None,
                 watch: FrameWatch | None = None,
                 name: str = "preprocess") -> None:
        """``frames``: every stream's frame ring, None for streams of other shards;
        ``planner``: a frame size's work items; ``interval``: which frames of a stream
        the network runs on (None: every frame; the others pass through);
        ``consumers``: the inference workers;
        ``finished``/``peers``: the shared count of finished shards and how many there
        are (None: this is the only one); ``counters``: the run's per-stream counters,
        where each frame's work items are counted (this shard writes its streams');
        ``motion``: the streams' motion regions and each stream's tracked-boxes board
        (None: no stream uses motion regions); ``watch``: what each frame shows, for
        ``--interval auto`` (None: the policy does not look)."""
        super().__init__()
        self.name = name
        self.frames, self.doorbell, self.inputs = list(frames), doorbell, inputs
        self.processing, self.planner = processing, planner
        self.consumers, self.finished, self.peers = consumers, finished, peers
        self.counters = counters
        self.owned = [s for s, ring in enumerate(self.frames) if ring is not None]
        self._turn = 0
        self._plans: dict[tuple[int, int], tuple[WorkItem, ...]] = {}
        self._tickets = [0] * len(self.frames)
        self.cadence = Cadence(policy=interval or IntervalPolicy(), streams=len(self.frames))
        self.motion: MotionItems | None = motion[0] if motion is not None else None
        self.boards: Sequence[TrackedBoxes | None] = motion[1] if motion is not None else ()
        self.watch = watch
        self._ended = 0

    def step(self) -> bool:
        if not self.doorbell.acquire(timeout=POLL_S):
            return True
        got = self._next_item()
        if got is None:
            return True  # the item this doorbell announced was evicted (live drop)
        slot, header = got
        if header.eos:
            self._ring(header.stream).release(slot)
            self._forward_eos(header)
            if header.detach:  # a camera left its seat; the stream goes on
                self.cadence.restart(header.stream)
                if self.watch is not None:
                    self.watch.restart(header.stream)
                if self.motion is not None:
                    self.motion.restart(header.stream)
                return True
            self._ended += 1
            if self._ended < len(self.owned):
                return True
            self._end_work()
            return False
        out = self.write_slot(self.inputs)
        if out is not None:
            self._prepare(slot, header, out)
        return True

    def _ring(self, stream: int) -> SharedRing:
        ring = self.frames[stream]
        assert ring is not None, f"stream {stream} is not this shard's"
        return ring

    def _next_item(self) -> tuple[int, FrameHeader] | None:
        owned = self.owned
        for i in range(len(owned)):
            turn = (self._turn + i) % len(owned)
            got = self._ring(owned[turn]).acquire_read(0.0)
            if got is not None:
                self._turn = turn + 1
                return got
        return None

    def plan(self, width: int, height: int) -> tuple[WorkItem, ...]:
        """The work items of a frame size (cached: sizes rarely change)."""
        key = (width, height)
        if key not in self._plans:
            self._plans[key] = self.planner.plan(width, height)
        return self._plans[key]

    def _prepare(self, slot: int, header: FrameHeader, out: int) -> None:
        """The frame's items into input slots, the first into ``out`` (waiting for a
        free slot between items is not counted as busy)."""
        frame = self._ring(header.stream).view(slot, header.frame_shape, "uint8")
        inferred = self._infers(header.stream, frame)
        work = self.plan(header.width, header.height) if inferred else ()
        kind = "full"
        if inferred and self.motion is not None and self.motion.enabled(header.stream):
            with self.busy():
                motion = self.watch.motion(header.stream) if self.watch is not None else None
                kind, work = self.motion.items(header.stream, frame,
                                               self._tracked(header.stream), work, motion)
        header = replace(header, frame=FrameRef(header.stream, slot),
                         ticket=self._next_ticket(header.stream), items=max(1, len(work)))
        if not work:
            self._pass(header, out)
        for index, item in enumerate(work):
            if index:
                got = self.write_slot(self.inputs)
                if got is None:
                    return
                out = got
            with self.busy():
                shape, dtype = self.processing.prepare(item.cut(frame), item.letterbox,
                                                       self.inputs, out)
                self.inputs.publish(out, replace(header, shape=shape, dtype=dtype,
                                                 transform=item.transform, item=index,
                                                 crop=item.crop.rect))
        self.items += 1
        self._count(header.stream, inferred=len(work), kind=kind)

    def _infers(self, stream: int, frame: np.ndarray) -> bool:
        """Whether the network runs on ``stream``'s next ``frame`` (its cadence, told
        what the frame shows where the policy looks: ``--interval auto``)."""
        if self.watch is None or not self.watch.watches(stream):
            return self.cadence.next(stream)
        with self.busy():
            view = self.watch.view(stream, frame)
        if not self.cadence.next(stream, view):
            return False
        self.watch.inferred(stream)
        return True

    def _tracked(self, stream: int) -> np.ndarray:
        """The boxes of the people render tracks on ``stream`` (its latest post)."""
        board = self.boards[stream] if stream < len(self.boards) else None
        return board.read() if board is not None else np.zeros((0, 4))

    def _count(self, stream: int, *, inferred: int, kind: str = "full") -> None:
        """The frame's inferred work items in the stream's counters (0: passed through);
        ``kind``: its motion plan (``"regions"``, ``"still"``; ``"full"`` otherwise)."""
        if self.counters is not None:
            self.counters.items(stream, inferred=inferred)
            if kind != "full":
                self.counters.motion(stream, regions=inferred if kind == "regions" else 0)

    def _pass(self, header: FrameHeader, out: int) -> None:
        """A frame with no work item: one pass-through item, no pixels."""
        self.inputs.publish(out, replace(header, shape=(), flags=header.flags | FLAG_PASS))

    def _forward_eos(self, header: FrameHeader) -> None:
        out = self.write_slot(self.inputs)
        if out is not None:
            self.inputs.publish(out, FrameHeader(stream=header.stream, seq=header.seq,
                                                 pts=header.pts, flags=header.flags,
                                                 ticket=self._next_ticket(header.stream)),
                                pinned=True)

    def _end_work(self) -> None:
        """The last shard to finish: one end-of-work item per inference worker."""
        end_work(self, self.inputs, finished=self.finished, peers=self.peers,
                 consumers=self.consumers)

    def _next_ticket(self, stream: int) -> int:
        self._tickets[stream] += 1
        return self._tickets[stream] - 1


def _motion(plan: RunPlan, mine: Sequence[int], channels: Any
            ) -> tuple[MotionItems, list[TrackedBoxes | None]] | None:
    """The shard's motion regions (None when none of its streams uses them) and
    each of its motion streams' tracked-boxes board."""
    streams = [s in mine and plan.motion_on(s) for s in range(plan.streams)]
    if not any(streams):
        return None
    boards = [TrackedBoxes(channels.at("tracked", s)) if on else None
              for s, on in enumerate(streams)]
    items = MotionItems(work=plan.work, settings=motion_settings(plan.config.motion),
                        streams=streams)
    return items, boards


def _watch(plan: RunPlan, mine: Sequence[int], channels: Any,
           motion: tuple[MotionItems, Sequence[TrackedBoxes | None]] | None
           ) -> FrameWatch | None:
    """What each frame of the shard's streams shows, for ``--interval auto`` (None
    otherwise); a stream with motion regions lends its planner's motion detector."""
    if plan.config.model.interval != AUTO:
        return None
    boards = [TrackedBoxes(channels.at("tracked", s)) if s in mine else None
              for s in range(plan.streams)]
    detectors = [motion[0].detector(s) if motion is not None else None
                 for s in range(plan.streams)]
    return FrameWatch(boards=boards, settings=motion_settings(plan.config.motion),
                      detectors=detectors)
