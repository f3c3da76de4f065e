"""Render: results back in order, tracked, drawn on the leased frame, written, released.

Results of one stream come back in ``ticket`` order whichever postprocess worker made
them. On a frame the network did not run on (``--interval``), the frame before's people
are carried onto it by optical flow (:mod:`streampose.pose.carry`). Track ids are
assigned here, where each stream's frames are in order, and each stream's event engine
(``streampose.events``, when rules are configured) runs on the tracked poses; with motion
regions (``--motion``) the boxes of the stream's tracked people are posted on its
``tracked`` board for preprocess (:mod:`streampose.transport.tracked`), and a frame
passed through as still gets the people carried from the frame before. The frame
is drawn in place in its frame-ring slot (only when an output needs pixels), every sink
writes it, the sinks that want events get the frame's events, and only then is the slot
released: the frame ring bounds frames in flight.

A frame decode scaled down to fit its slot (``--max-frame-size``,
:class:`~streampose.stages.frame_fit.FrameFit`) is tracked, carried and drawn as it is
in its slot, so its recording and pictures are at the scaled size; the poses the sinks
and the event rules get are in the source picture's pixels
(:func:`~streampose.stages.frame_fit.to_source`), and its records say the source's size.

Render may be sharded by stream (:mod:`streampose.planning.layout`): each render process
owns some streams, their results queue, their trackers and their sinks. Everything kept
per stream here is indexed by stream, so a shard is only a matter of which streams it
owns; files that span streams (JSON lines, COCO) are written as one part per shard and
joined by the parent after the run (:mod:`streampose.outputs.parts`).
"""

from __future__ import annotations

import logging
import queue
import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from streampose.observe.counters import StreamCounters
from streampose.outputs.base import FrameMeta, Sink, image_id
from streampose.planning.plan import RunPlan
from streampose.planning.run_state import RunState
from streampose.planning.work_items import BEST_PERSON_PX
from streampose.pose import Poses, get_skeleton
from streampose.runtime.channels import (
    ArraySpec,
    ChannelSpec,
    QueueSpec,
    StageChannels,
    Wiring,
)
from streampose.runtime.stage import POLL_S, Stage
from streampose.stages.frame_fit import to_source
from streampose.stages.item_merge import ItemMerge
from streampose.stages.render_cameras import (
    NO_MAKERS,
    CameraMakers,
    RenderCamera,
    RenderCameras,
)
from streampose.stages.render_order import Merge, TicketOrder
from streampose.stages.render_parts import (
    annotators_of,
    carry_of,
    engines_of,
    seat_outputs,
    sinks_of,
    tracker_of,
)
from streampose.stages.sink_set import SinkSet
from streampose.stages.steady_rate import SteadyRate
from streampose.transport.messages import FrameHeader, PoseResult
from streampose.transport.ring import SharedRing
from streampose.transport.tracked import BOARD_LENGTH, TrackedBoxes

log = logging.getLogger(__name__)


class RenderStage(Stage):
    """Results queue + frame ring -> sinks (video, images, JSON...); releases frame slots."""

    name = kind = "render"

    @classmethod
    def outputs(cls, plan: RunPlan, channels: StageChannels, index: int) -> list[ChannelSpec]:
        """The tracked-boxes board of each stream of this shard (motion regions), and the
        Python caller's queue in a run for :func:`streampose.stream` (every shard puts on
        the one queue)."""
        specs: list[ChannelSpec] = [
            ArraySpec(name=channels.name("tracked", s), length=BOARD_LENGTH)
            for s in plan.processes.render[index]]
        caller = plan.config.caller
        if caller is not None:
            specs.append(QueueSpec(name=channels.name("caller"), maxsize=caller.buffer))
        return specs

    @classmethod
    def build(cls, plan: RunPlan, wiring: Wiring[RunState], index: int) -> RenderStage:
        cfg, layout, channels, run = plan.config, plan.processes, wiring.channels, wiring.run
        mine = layout.render[index]
        frames = [ring if s in mine else None for s, ring in enumerate(channels.group("frames"))]
        return cls(frames=frames, results=channels.at("results", index),
                   sinks=sinks_of(plan, run, index, caller=_caller(plan, channels)),
                   skeleton=plan.spec.skeleton,
                   counters=run.counters, latency=run.latency,
                   names=[list(s.names) if s.names else None for s in plan.sources],
                   sizes=[None if s.is_images else (s.info.width, s.info.height)
                          for s in plan.sources],
                   makers=CameraMakers(annotators=annotators_of(plan),
                                       tracker=tracker_of(cfg.tracking), events=engines_of(plan),
                                       carry=carry_of(cfg.model.interval,
                                                      motion=any(plan.motion)),
                                       cameras=plan.cameras if plan.lineup.named else None,
                                       seats=seat_outputs(plan, run)),
                   merge=ItemMerge(get_skeleton(plan.spec.skeleton),
                                   person_px=BEST_PERSON_PX.get(plan.spec.head)),
                   boards=[TrackedBoxes(channels.at("tracked", s))
                           if s in mine and plan.posts_tracked(s) else None
                           for s in range(plan.streams)],
                   name=cls.kind if len(layout.render) == 1 else f"{cls.kind}{index}")

    def __init__(self, *, frames: Sequence[SharedRing | None], results: Any, sinks: list[Sink],
                 skeleton: str, counters: StreamCounters, latency: Any = None,
                 names: list[list[str] | None] | None = None,
                 makers: CameraMakers = NO_MAKERS, merge: Merge | None = None,
                 boards: Sequence[TrackedBoxes | None] = (),
                 name: str = "render",
                 sizes: Sequence[tuple[int, int] | None] | None = None) -> None:
        """``frames``: every stream's frame ring, None for streams of other render shards
        (their results never come here); per-stream state is indexed by stream.
        ``makers``: what makes each stream's camera parts (:class:`CameraMakers`: drawing,
        tracker, events, pose carry, camera names, and the seat table whose cameras render
        attaches at each seat's first frame, a camera's own recording opened then and
        closed at its detach marker);
        ``merge``: a frame's work-item results -> its one result (frames cut into tiles);
        ``boards``: per stream, where its tracked people's boxes are posted for motion
        regions (None or missing: not posted).
        ``sizes``: each stream's frame size as probed (None: not followed, e.g. images),
        so that the records say a frame's size when it changes."""
        super().__init__()
        self.name = name
        self.frames, self.results, self.sinks = list(frames), results, SinkSet(sinks)
        self.skeleton_name, self.counters, self.latency = skeleton, counters, latency
        streams = len(self.frames)
        self.owned = [s for s, ring in enumerate(self.frames) if ring is not None]
        self.names = names or [None] * streams
        self.sizes: list[tuple[int, int] | None] = list(sizes or [None] * streams)
        self.makers = makers
        self.order = TicketOrder(streams=streams, merge=merge)
        self.boards = list(boards) + [None] * (streams - len(boards))
        self._ended = [s not in self.owned for s in range(streams)]
        self.rate = SteadyRate()

    def open(self) -> None:
        self.skeleton = get_skeleton(self.skeleton_name)
        self.states = RenderCameras(streams=len(self.frames), owned=self.owned,
                                   makers=self.makers)
        self.sinks.open()

    def step(self) -> bool:
        try:
            result: PoseResult = self.results.get(timeout=POLL_S)
        except queue.Empty:
            return True
        self.order.put(result)
        for ready in self.order.ready(result.header.stream):
            self._take(ready)
        return not all(self._ended)

    def _take(self, result: PoseResult) -> None:
        """One result in its stream's order: a detach marker, the end, or a frame."""
        header = result.header
        if header.detach:
            self._detach(header.stream, header.pts)
        elif header.eos:
            self._ended[header.stream] = True
        else:
            with self.busy():
                if self.states.needs_attach(header.stream):
                    self._attach(header.stream, header)
                self._emit(result)

    def _emit(self, result: PoseResult) -> None:
        header = result.header
        state = self.states[header.stream]
        poses = self._poses(result, state)  # in the frame's pixels, as it is in its slot
        self._post(header.stream, state, poses)
        found = to_source(poses, header)  # in the source picture's (decode scaled it down)
        meta = self._meta(header, state.name)
        events = state.events(meta, found)
        image = self._annotated(header, state, poses) if self.sinks.needs_image else None
        self.sinks.write(meta, found, image)
        del image
        if events:
            self.sinks.write_events(meta, events)
            self.counters.add(header.stream, "events", len(events))
        self.sinks.frame_done(meta)
        self._ring(header.frame.ring).release(header.frame.slot)
        if self.latency is not None:
            self.latency.record(header.stream, time.time() - header.wall)
        self._count(header.stream, carried=not result.inferred)

    def _poses(self, result: PoseResult, state: RenderCamera) -> Poses:
        """The frame's tracked poses: as the network found them, or carried (a frame no
        network ran on, read before anything is drawn on it)."""
        assert result.keypoints is not None and result.scores is not None  # not an EOS
        poses = Poses(result.keypoints, result.scores, self.skeleton, boxes=result.boxes)
        if state.carry is None:
            return state.track(poses)
        header = result.header
        frame = self._ring(header.frame.ring).view(header.frame.slot, header.frame_shape,
                                                   "uint8")
        return state.follow(poses, frame, inferred=result.inferred)

    def _post(self, stream: int, state: RenderCamera, poses: Poses) -> None:
        """The stream's tracked people on its board (motion regions keep them)."""
        board = self.boards[stream]
        if board is not None:
            board.write(state.tracked_boxes(poses))

    def _ring(self, stream: int) -> SharedRing:
        ring = self.frames[stream]
        assert ring is not None, f"stream {stream} is not this render shard's"
        return ring

    def _annotated(self, header: FrameHeader, state: RenderCamera, poses: Poses) -> np.ndarray:
        ring, slot = header.frame
        frame = self._ring(ring).view(slot, header.frame_shape, "uint8", writable=True)
        state.draw(frame, poses, source_scale=header.source_scale)
        return frame

    def _meta(self, header: FrameHeader, camera: str | None) -> FrameMeta:
        names = self.names[header.stream]
        name = names[header.seq] if names is not None and header.seq < len(names) else None
        return FrameMeta(stream=header.stream, frame=header.seq, pts=header.pts,
                         pts_s=float(header.pts * header.time_base), wall=header.wall,
                         image_id=image_id(name, header.seq), name=name, camera=camera,
                         size=self._new_size(header))

    def _new_size(self, header: FrameHeader) -> tuple[int, int] | None:
        """The frame's source (width, height) when it differs from its stream's frame
        before (a frame decode scaled down: the size it came at)."""
        size, last = header.source, self.sizes[header.stream]
        if last is None or size == last:
            return None
        self.sizes[header.stream] = size
        return size

    def _count(self, stream: int, *, carried: bool = False) -> None:
        self.items += 1
        self.counters.add(stream, "frames_out")
        if carried:
            self.counters.add(stream, "carried")
        self.rate.tick()

    # -- seats: a camera attached at its first frame, detached when it goes ---------------

    def _attach(self, stream: int, header: FrameHeader) -> None:
        """The first frame of the seat's camera: its state, its name on the sinks of the
        stream (where records name cameras), and its own recording (sized from the frame)
        among the sinks."""
        state = self.states.attach(stream, header)
        if state is None or state.camera is None:
            return
        if state.name is not None:
            self.sinks.rename(stream, state.name)
        if state.recording is not None:
            self.sinks.adopt(state.recording)
        log.info("stream %d: camera %r attached", stream, state.camera.name)

    def _detach(self, stream: int, generation: int) -> None:
        """Every frame of the seat's camera is out: close its recording (a complete MP4),
        forget its state, and report the seat drained."""
        camera, recording = self.states.detach(stream)
        board = self.boards[stream]
        if board is not None:
            board.clear()
        if recording is not None:
            self.sinks.drop(recording)
        if camera is not None:
            log.info("stream %d: camera %r detached", stream, camera.name)
        self.states.drained(stream, generation)

    def extra_report(self) -> dict[str, Any]:
        """The steady-state rate (:class:`~streampose.stages.steady_rate.SteadyRate`),
        and the files of every annotated video continued in segments (its frames
        changed size)."""
        segments = video_segments(self.sinks.sinks)
        return self.rate.report() | ({"video_segments": segments} if segments else {})

    def close(self) -> None:
        """Close every output, even after one fails; then raise the first failure."""
        self.sinks.close()


def _caller(plan: RunPlan, channels: StageChannels) -> Any:
    """The Python caller's queue (None: the run has no caller)."""
    return channels["caller"] if plan.config.caller is not None else None


def video_segments(sinks: Sequence[Sink]) -> dict[str, list[str]]:
    """``{stream: [files]}`` of the annotated videos written in several segments."""
    segments = {}
    for sink in sinks:
        paths = getattr(sink, "paths", None)
        if isinstance(paths, list) and len(paths) > 1:
            segments[str(getattr(sink, "stream", ""))] = [str(p) for p in paths]
    return segments
