"""Render: results back in order, tracked, drawn on the leased frame, written, released.

Results of one stream come back in ``ticket`` order whichever postprocess worker made
them. Track ids are assigned here, where each stream's frames are in order, and each
stream's event engine (``streampose.events``, when rules are configured) runs on the
tracked poses. The frame is drawn in place in its frame-ring slot (only when an output
needs pixels), every sink writes it, the sinks that want events get the frame's events,
and only then is the slot released: the frame ring bounds frames in flight.

Render may be sharded by stream (:mod:`streampose.stages.layout`): each render process
owns some streams, their results queue, their trackers and their sinks. Everything kept
per stream here is indexed by stream, so a shard is only a matter of which streams it
owns; files that span streams (JSON lines, COCO) are written as one part per shard and
joined by the parent after the run (:mod:`streampose.outputs.parts`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
import queue
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from streampose.config.camera import Camera
from streampose.config.sections import DrawConfig, TrackingConfig
from streampose.errors import OutputError, describe_error
from streampose.events.engine import EventEngine
from streampose.observe.counters import StreamCounters
from streampose.outputs.base import FrameMeta, Sink, image_id
from streampose.outputs.factory import DEFAULT_FPS, EncoderSettings, annotated_path
from streampose.outputs.registry import SinkContext, make_sinks
from streampose.pose import Poses, get_skeleton
from streampose.runtime.channels import Channels
from streampose.runtime.stage import POLL_S, Stage
from streampose.stages.plan import RunPlan, all_stream_facts
from streampose.stages.slots import SlotTable
from streampose.transport.messages import FrameHeader, PoseResult
from streampose.transport.ring import SharedRing

log = logging.getLogger(__name__)


class RenderStage(Stage):
    """Results queue + frame ring -> sinks (video, images, JSON...); releases frame slots."""

    name = kind = "render"

    @classmethod
    def build(cls, plan: RunPlan, channels: Channels, index: int) -> RenderStage:
        cfg, layout = plan.config, plan.processes
        mine = layout.render[index]
        frames = [ring if s in mine else None for s, ring in enumerate(channels.group("frames"))]
        return cls(frames=frames, results=channels[f"results{index}"],
                   sinks=_sinks(plan, index), skeleton=plan.spec.skeleton,
                   counters=plan.statistics()[0], latency=plan.statistics()[1],
                   names=[list(s.names) if s.names else None for s in plan.sources],
                   annotators=_annotators(plan),
                   tracker=_tracker(cfg.tracking), events=_engines(plan),
                   cameras=plan.cameras if cfg.cameras or cfg.slots else None,
                   slots=_slot_outputs(plan) if cfg.slots is not None else None,
                   name=cls.kind if len(layout.render) == 1 else f"{cls.kind}{index}")

    def __init__(self, *, frames: Sequence[SharedRing | None], results: Any, sinks: list[Sink],
                 skeleton: str, counters: StreamCounters, latency: Any = None,
                 names: list[list[str] | None] | None = None,
                 annotators: Callable[[int], list[Any]] | None = None,
                 tracker: Callable[[], Any] | None = None,
                 events: Callable[..., EventEngine | None] | None = None,
                 cameras: Sequence[str] | None = None,
                 slots: SlotOutputs | None = None, name: str = "render") -> None:
        """``frames``: every stream's frame ring, None for streams of other render shards
        (their results never come here); per-stream state is indexed by stream.
        ``annotators``: ``make(stream)``, what is drawn on that stream's frames;
        ``cameras``: each stream's camera name, in its records (a cameras file's run);
        ``slots``: the streams are slots whose cameras come and go (a camera's recording
        is opened at its first frame and closed at its detach marker)."""
        super().__init__()
        self.name = name
        self.frames, self.results, self.sinks = list(frames), results, sinks
        self.skeleton_name, self.counters, self.latency = skeleton, counters, latency
        streams = len(self.frames)
        self.owned = [s for s, ring in enumerate(self.frames) if ring is not None]
        self.names = names or [None] * streams
        self.make_annotators, self.make_tracker = annotators, tracker
        self.make_engine = events
        self.cameras = list(cameras) if cameras is not None else None
        self.slots = slots
        self._attached: list[Camera | None] = [None] * streams
        self._video: list[Sink | None] = [None] * streams
        self._pending: list[dict[int, PoseResult]] = [{} for _ in range(streams)]
        self._next = [0] * streams
        self._ended = [s not in self.owned for s in range(streams)]
        self._opened: list[Sink] = []
        self._first_out: float | None = None
        self._last_out: float | None = None

    def open(self) -> None:
        self.skeleton = get_skeleton(self.skeleton_name)
        self.annotators = [self.make_annotators(s) if self.make_annotators and s in self.owned
                           else [] for s in range(len(self.frames))]
        self.trackers = [self.make_tracker() if self.make_tracker and s in self.owned else None
                         for s in range(len(self.frames))]
        self.engines = [self.make_engine(s) if self.make_engine and s in self.owned else None
                        for s in range(len(self.frames))]
        from streampose.render.rules import RulesAnnotator  # OpenCV: in the render process

        self.rule_annotators = [RulesAnnotator(e) if e is not None else None
                                for e in self.engines]
        self.needs_image = any(sink.wants_image for sink in self.sinks)
        self.event_sinks = [sink for sink in self.sinks if sink.wants_events]
        try:
            for sink in self.sinks:
                sink.open()
                self._opened.append(sink)
        except BaseException:
            self.close()  # the runner calls close() only after a successful open()
            raise

    def step(self) -> bool:
        try:
            result: PoseResult = self.results.get(timeout=POLL_S)
        except queue.Empty:
            return True
        stream = result.header.stream
        self._pending[stream][result.header.ticket] = result
        self._drain(stream)
        return not all(self._ended)

    def _drain(self, stream: int) -> None:
        pending = self._pending[stream]
        while self._next[stream] in pending:
            result = pending.pop(self._next[stream])
            self._next[stream] += 1
            if result.header.detach:
                self._detach(stream, result.header.pts)
            elif result.header.eos:
                self._ended[stream] = True
            else:
                with self.busy():
                    if self.slots is not None and self._attached[stream] is None:
                        self._attach(stream, result.header)
                    self._emit(result)

    def _emit(self, result: PoseResult) -> None:
        header = result.header
        assert result.keypoints is not None and result.scores is not None  # not an EOS
        poses = Poses(result.keypoints, result.scores, self.skeleton, boxes=result.boxes)
        tracker = self.trackers[header.stream]
        if tracker is not None:
            poses = tracker.update(poses)
        meta = self._meta(header)
        engine = self.engines[header.stream]
        events = engine.update(meta, poses) if engine is not None else []
        image = self._annotated(header, poses) if self.needs_image else None
        for sink in self.sinks:
            _guarded(sink, "write", sink.write, meta, poses, image)
        del image
        if events:
            for sink in self.event_sinks:
                sink.write_events(meta, events)
            self.counters.add(header.stream, "events", len(events))
        self._ring(header.frame.ring).release(header.frame.slot)
        if self.latency is not None:
            self.latency.record(header.stream, time.time() - header.wall)
        self._count(header.stream)

    def _ring(self, stream: int) -> SharedRing:
        ring = self.frames[stream]
        assert ring is not None, f"stream {stream} is not this render shard's"
        return ring

    def _annotated(self, header: FrameHeader, poses: Poses) -> np.ndarray:
        ring, slot = header.frame
        frame = self._ring(ring).view(slot, header.frame_shape, "uint8", writable=True)
        rules = self.rule_annotators[header.stream]
        if rules is not None:
            rules.annotate(frame, poses)
        for annotator in self.annotators[header.stream]:
            annotator.annotate(frame, poses)
        return frame

    def _meta(self, header: FrameHeader) -> FrameMeta:
        names = self.names[header.stream]
        name = names[header.seq] if names is not None and header.seq < len(names) else None
        return FrameMeta(stream=header.stream, frame=header.seq, pts=header.pts,
                         pts_s=float(header.pts * header.time_base), wall=header.wall,
                         image_id=image_id(name, header.seq), name=name,
                         camera=self.cameras[header.stream] if self.cameras else None)

    def _count(self, stream: int) -> None:
        self.items += 1
        self.counters.add(stream, "frames_out")
        self._last_out = time.monotonic()
        if self._first_out is None:
            self._first_out = self._last_out

    # -- stream slots: cameras come and go ------------------------------------------------

    def _attach(self, stream: int, header: FrameHeader) -> None:
        """The first frame of the slot's camera: its name, drawing, tracker, events, and
        its recording (sized from the frame)."""
        assert self.slots is not None
        _, _, camera = self.slots.table.read(stream)
        if camera is None:
            return
        self._attached[stream] = camera
        if self.cameras is not None:
            self.cameras[stream] = camera.name
        self.annotators[stream] = self.slots.annotators(camera)
        self.trackers[stream] = self.make_tracker() if self.make_tracker else None
        engine = self.make_engine(stream, camera.name) if self.make_engine else None
        self.engines[stream] = engine
        from streampose.render.rules import RulesAnnotator

        self.rule_annotators[stream] = RulesAnnotator(engine) if engine is not None else None
        for sink in self.sinks:  # the per-camera sinks of the slot take the new name
            names = getattr(sink, "cameras", None)
            if isinstance(names, list) and stream < len(names):
                names[stream] = camera.name
            elif getattr(sink, "stream", None) == stream and hasattr(sink, "camera"):
                sink.camera = camera.name
        self._video[stream] = self._open_recording(stream, camera, header)
        self.needs_image = any(sink.wants_image for sink in self.sinks)
        log.info("stream %d: camera %r attached", stream, camera.name)

    def _open_recording(self, stream: int, camera: Camera, header: FrameHeader) -> Sink | None:
        slots = self.slots
        assert slots is not None
        path = slot_recording(slots.template, stream, camera.name)
        if path is None or not camera.record:
            return None
        if not slots.overwrite and path.exists():
            log.error("camera %r: -o %s exists, and --no-overwrite is set: not recorded",
                      camera.name, path)
            return None
        from streampose.outputs.video import VideoSink  # PyAV: where a video is written

        sink = VideoSink(stream=stream, path=path, width=header.width, height=header.height,
                         fps=DEFAULT_FPS, time_base=header.time_base,
                         preset=slots.encoder.preset, crf=slots.encoder.crf,
                         threads=slots.encoder.threads)
        try:
            _guarded(sink, "open", sink.open)
        except OutputError as exc:  # this camera goes unrecorded; the run goes on
            log.error("camera %r: %s", camera.name, exc)
            return None
        self.sinks.append(sink)
        self._opened.append(sink)
        return sink

    def _detach(self, stream: int, generation: int) -> None:
        """Every frame of the slot's camera is out: close its recording (a complete MP4),
        forget its state, and report the slot drained."""
        camera, sink = self._attached[stream], self._video[stream]
        self._attached[stream], self._video[stream] = None, None
        if sink is not None:
            self.sinks.remove(sink)
            self._opened.remove(sink)
            try:
                _guarded(sink, "close", sink.close)
            except OutputError as exc:
                log.error("%s", exc)
        self.trackers[stream] = self.engines[stream] = self.rule_annotators[stream] = None
        if camera is not None:
            log.info("stream %d: camera %r detached", stream, camera.name)
        if self.slots is not None:
            self.slots.table.drained(stream, generation)

    def extra_report(self) -> dict[str, Any]:
        """Steady-state rate: frames between the first and the last one out (no start-up);
        with the times of both (``time.monotonic``, one clock for every process) so that
        the rates of several render shards add up (:class:`~streampose.observe.summary.Summary`)."""
        if self._first_out is None or self._last_out is None or self.items < 2:
            return {}
        span = self._last_out - self._first_out
        return {"steady_fps": round((self.items - 1) / span, 3) if span > 0 else None,
                "first_out_at": self._first_out, "last_out_at": self._last_out}

    def close(self) -> None:
        """Close every output, even after one fails; then raise the first failure."""
        first: OutputError | None = None
        for sink in self._opened:
            try:
                _guarded(sink, "close", sink.close)
            except OutputError as exc:  # one broken output must not stop the others closing
                log.debug("closing %s failed", type(sink).__name__, exc_info=True)
                if first is None:
                    first = exc
                else:
                    log.error("%s", exc)
            except Exception as exc:  # a bug in a sink: logged, the others still close
                log.debug("closing %s failed", type(sink).__name__, exc_info=True)
                log.error("closing output %s failed: %s", type(sink).__name__, exc)
        self._opened.clear()
        if first is not None:
            raise first


def _guarded(sink: Sink, action: str, call: Callable[..., None], *args: Any) -> None:
    """``call(*args)``; an OS error a sink did not name becomes an OutputError naming it."""
    try:
        call(*args)
    except OutputError:
        raise
    except OSError as exc:
        raise OutputError(f"output {type(sink).__name__}: cannot {action} "
                          f"({describe_error(exc)})") from exc


def _annotators(plan: RunPlan) -> Callable[[int], list[Any]]:
    """``make(stream)``: the annotators of a stream, from ``[draw]`` and its camera's
    ``draw`` (off: nothing drawn but blurred faces) and ``blur_faces``."""
    cfg = plan.config
    draws = [c.draw for c in cfg.cameras] + [True] * (plan.streams - len(cfg.cameras))
    settings = [_draw_settings(cfg.draw_for(s), tracking=cfg.tracking.enabled, poses=draws[s])
                for s in range(plan.streams)]
    return functools.partial(_build_annotators, settings)


def _draw_settings(draw: DrawConfig, *, tracking: bool, poses: bool) -> dict[str, Any]:
    """``build_annotators`` keywords; ``poses`` False draws nothing but blurred faces."""
    return {"skeleton": poses, "ids": poses and draw.ids and tracking,
            "boxes": poses and draw.boxes, "blur_faces": draw.blur_faces,
            "min_confidence": draw.min_confidence}


def _build_annotators(settings: Sequence[dict[str, Any]], stream: int) -> list[Any]:
    """The annotators of ``stream``, made in the render process (OpenCV is imported
    there, not in the parent that builds the stage)."""
    from streampose.render import build_annotators

    return build_annotators(**settings[stream])


def _tracker(section: TrackingConfig) -> Callable[[], Any] | None:
    """A PoseTracker per stream, with the section's parameters; None when tracking is off."""
    if not section.enabled:
        return None
    from streampose.pose.tracking import PoseTracker

    return functools.partial(PoseTracker.from_config, section)


def _engines(plan: RunPlan) -> Callable[[int], EventEngine | None] | None:
    """``make(stream)``: that stream's event engine; None when no rule is configured.

    A track is forgotten one frame after the tracker would have retired it
    (``[tracking].max_age``): its id never comes back.
    """
    events = plan.config.events
    if not events.enabled:
        return None
    return functools.partial(_engine, rules=events.rules(), cameras=plan.cameras,
                             skeleton=plan.spec.skeleton,
                             forget_after=plan.config.tracking.max_age + 1,
                             min_keypoints=events.min_keypoints)


def _engine(stream: int, camera: str | None = None, *, rules: tuple[Any, ...],
            cameras: tuple[str, ...], skeleton: str, forget_after: int,
            min_keypoints: int) -> EventEngine:
    camera = cameras[stream] if camera is None else camera
    return EventEngine(camera=camera, rules=rules, skeleton=get_skeleton(skeleton),
                       forget_after=forget_after, min_keypoints=min_keypoints)


def _sinks(plan: RunPlan, shard: int) -> list[Sink]:
    """The sinks of render shard ``shard`` (:func:`streampose.outputs.registry.make_sinks`):
    its streams' outputs, and files that span streams written as this shard's part when
    there are several shards."""
    shards = plan.processes.render
    context = SinkContext(config=plan.config, streams=all_stream_facts(plan),
                          encoder=_encoder(plan), owned=shards[shard],
                          part=shard if len(shards) > 1 else None,
                          counters=plan.counters, console=plan.console)
    return make_sinks(context)


def _encoder(plan: RunPlan) -> EncoderSettings:
    """The annotated videos' encoder settings, with render's thread budget."""
    threads = plan.budget(RenderStage.kind).encoder
    return EncoderSettings.from_performance(plan.config.performance,
                                            threads=1 if threads is None else threads)


@dataclasses.dataclass(frozen=True)
class SlotOutputs:
    """What render needs to follow the cameras of stream slots: the slot table, the
    annotated-video template and encoder, and the drawing settings a camera's own
    ``draw``/``blur_faces`` adjust."""

    table: SlotTable
    template: str | None
    encoder: EncoderSettings
    draw: DrawConfig
    tracking: bool
    overwrite: bool = True

    def annotators(self, camera: Camera) -> list[Any]:
        draw = self.draw if camera.blur_faces is None else \
            dataclasses.replace(self.draw, blur_faces=camera.blur_faces)
        return _build_annotators([_draw_settings(draw, tracking=self.tracking,
                                                 poses=camera.draw)], 0)


def slot_recording(template: str | None, stream: int, camera: str) -> Path | None:
    """The recording of ``camera`` on stream slot ``stream``: ``{camera}`` and
    ``{stream}`` replaced; without ``{camera}``, ``_<camera>`` before the extension (a
    slot's next camera never overwrites the last one's file)."""
    path = annotated_path(template, stream, 1, camera)
    if path is None or template is None or "{camera}" in template:
        return path
    return path.with_name(f"{path.stem}_{camera}{path.suffix}")


def _slot_outputs(plan: RunPlan) -> SlotOutputs:
    assert plan.slots is not None, "Pipeline.run adds the slot table"
    cfg = plan.config
    return SlotOutputs(table=plan.slots, template=cfg.outputs.video, encoder=_encoder(plan),
                       draw=cfg.draw, tracking=cfg.tracking.enabled,
                       overwrite=cfg.outputs.overwrite)
