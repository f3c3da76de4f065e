"""Render in-process on real frame rings with tiny in-test sinks: results back in ticket
order per stream, frame slots released only after every sink wrote, one sink failing to
close does not stop the others."""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import queue
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streampose.errors import OutputError
from streampose.observe.counters import StreamCounters
from streampose.outputs.base import FrameMeta, Sink
from streampose.pose import Poses
from streampose.runtime.control import StageControl
from streampose.stages.render import RenderStage
from streampose.stages.render_cameras import CameraMakers
from streampose.transport.messages import FLAG_EOS, FrameHeader, FrameRef, PoseResult
from streampose.transport.ring import SharedRing

CTX = mp.get_context("spawn")
W, H = 32, 24
SLOTS = 3

MakeRing = Callable[..., SharedRing]


class Recorder(Sink):
    """Remembers what it was given, and how many frame slots were free at the time."""

    def __init__(self, frames: list[SharedRing], free_slots: Callable[[SharedRing], int], *,
                 wants_image: bool = True) -> None:
        self.frames, self.free_slots, self.wants_image = frames, free_slots, wants_image
        self.written: list[tuple[FrameMeta, int, int]] = []  # meta, people, free slots
        self.images: list[np.ndarray | None] = []
        self.opened = self.closed = False

    def open(self) -> None:
        self.opened = True

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        free = self.free_slots(self.frames[meta.stream])
        self.written.append((meta, len(poses), free))
        self.images.append(None if image is None else image.copy())

    def close(self) -> None:
        self.closed = True


class BrokenClose(Sink):
    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        pass

    def close(self) -> None:
        raise RuntimeError("disk full")


def pixels(stream: int, seq: int) -> np.ndarray:
    return np.full((H, W, 3), 10 * seq + stream, np.uint8)


def lease_frame(ring: SharedRing, stream: int, seq: int) -> FrameRef:
    """Decode writes the frame, preprocess leases it: render gets the lease."""
    slot, _ = ring.acquire_write(0)
    ring.array(slot, (H, W, 3), np.uint8)[...] = pixels(stream, seq)
    ring.publish(slot, FrameHeader(stream=stream, seq=seq, width=W, height=H))
    got, _ = ring.acquire_read(0)
    assert got == slot
    return FrameRef(stream, slot)


def result(stream: int, seq: int, frame: FrameRef, people: int = 1) -> PoseResult:
    header = FrameHeader(stream=stream, seq=seq, pts=3 * seq, time_base=Fraction(1, 30),
                         wall=1e9, width=W, height=H, frame=frame, ticket=seq)
    keypoints = np.ones((people, 18, 3), np.float32)
    return PoseResult(header, keypoints, np.ones(people, np.float32))


def eos(stream: int, ticket: int) -> PoseResult:
    return PoseResult(FrameHeader(stream=stream, seq=ticket, flags=FLAG_EOS, ticket=ticket))


@pytest.fixture
def frames(make_ring: MakeRing) -> list[SharedRing]:
    return [make_ring(name=f"frames{s}", slots=SLOTS, slot_bytes=W * H * 3) for s in (0, 1)]


def render(frames: list[SharedRing], sinks: list[Sink], control: StageControl,
           **kw: Any) -> RenderStage:
    stage = RenderStage(frames=frames, results=queue.Queue(), sinks=sinks, skeleton="coco18",
                        counters=StreamCounters(streams=len(frames), ctx=CTX), **kw)
    stage.control = control
    stage.open()
    return stage


def feed(stage: RenderStage, item: PoseResult) -> bool:
    stage.results.put(item)
    return stage.step()


def test_results_come_back_in_ticket_order_per_stream(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable
) -> None:
    sink = Recorder(frames, free_slots)
    stage = render(frames, [sink], stage_control)
    leases = [lease_frame(frames[0], 0, seq) for seq in range(3)]
    lease1 = lease_frame(frames[1], 1, 0)
    assert feed(stage, result(0, 2, leases[2])) is True
    assert feed(stage, result(1, 0, lease1, people=2)) is True
    assert [(m.stream, m.frame) for m, _, _ in sink.written] == [(1, 0)]  # 0/2 waits
    assert feed(stage, eos(1, 1)) is True
    assert feed(stage, result(0, 0, leases[0])) is True
    assert feed(stage, result(0, 1, leases[1])) is True
    assert feed(stage, eos(0, 3)) is False  # every stream ended
    assert [(m.stream, m.frame, people) for m, people, _ in sink.written] == [
        (1, 0, 2), (0, 0, 1), (0, 1, 1), (0, 2, 1)]
    assert [stage.counters.get(s, "frames_out") for s in (0, 1)] == [3, 1]
    assert stage.items == 4
    stage.close()


def test_frame_slots_are_released_after_the_sinks_wrote(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable
) -> None:
    first, second = Recorder(frames, free_slots), Recorder(frames, free_slots)
    stage = render(frames, [first, second], stage_control)
    leases = [lease_frame(frames[0], 0, seq) for seq in range(SLOTS)]
    assert free_slots(frames[0]) == 0
    for seq in range(SLOTS):
        feed(stage, result(0, seq, leases[seq]))
    for sink in (first, second):
        assert [free for _, _, free in sink.written] == [0, 1, 2]  # released after both
        for seq, image in enumerate(sink.images):
            np.testing.assert_array_equal(image, pixels(0, seq))  # the frame, intact
    assert free_slots(frames[0]) == SLOTS
    stage.close()


def test_no_image_when_no_sink_wants_one(frames: list[SharedRing],
                                         stage_control: StageControl,
                                         free_slots: Callable) -> None:
    sink = Recorder(frames, free_slots, wants_image=False)
    stage = render(frames, [sink], stage_control)
    feed(stage, result(0, 0, lease_frame(frames[0], 0, 0)))
    assert sink.images == [None] and free_slots(frames[0]) == SLOTS
    stage.close()


def test_frame_meta_names_times_and_image_ids(frames: list[SharedRing],
                                              stage_control: StageControl,
                                              free_slots: Callable) -> None:
    sink = Recorder(frames, free_slots, wants_image=False)
    stage = render(frames, [sink], stage_control, names=[None, ["000123.jpg", "b.jpg"]])
    feed(stage, result(0, 0, lease_frame(frames[0], 0, 0)))
    feed(stage, result(1, 0, lease_frame(frames[1], 1, 0)))
    feed(stage, result(1, 1, lease_frame(frames[1], 1, 1)))
    metas = [meta for meta, _, _ in sink.written]
    assert metas[0] == FrameMeta(stream=0, frame=0, pts=0, pts_s=0.0, wall=1e9, image_id=0)
    assert (metas[1].name, metas[1].image_id) == ("000123.jpg", 123)
    assert (metas[2].name, metas[2].image_id, metas[2].pts_s) == ("b.jpg", 1, 0.1)
    stage.close()


class CountingTracker:
    """Gives every person the number of frames this tracker has seen as track id."""

    def __init__(self) -> None:
        self.frames = 0

    def update(self, poses: Poses) -> Poses:
        self.frames += 1
        ids = np.full(len(poses), self.frames, np.int64)
        return Poses(poses.keypoints, poses.scores, poses.skeleton, ids)


class IdSink(Sink):
    def __init__(self) -> None:
        self.ids: list[tuple[int, list[int]]] = []

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        self.ids.append((meta.stream, poses.track_ids.tolist()))


def test_one_tracker_per_stream_sees_its_frames_in_order(
    frames: list[SharedRing], stage_control: StageControl
) -> None:
    sink = IdSink()
    stage = render(frames, [sink], stage_control, makers=CameraMakers(tracker=CountingTracker))
    feed(stage, result(0, 0, lease_frame(frames[0], 0, 0)))
    feed(stage, result(1, 0, lease_frame(frames[1], 1, 0)))
    feed(stage, result(0, 1, lease_frame(frames[0], 0, 1)))
    assert sink.ids == [(0, [1]), (1, [1]), (0, [2])]
    stage.close()


def test_a_sink_failing_to_close_does_not_stop_the_others(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable,
    caplog: pytest.LogCaptureFixture
) -> None:
    before, after = Recorder(frames, free_slots), Recorder(frames, free_slots)
    stage = render(frames, [before, BrokenClose(), after], stage_control)
    assert before.opened and after.opened
    feed(stage, result(0, 0, lease_frame(frames[0], 0, 0)))
    with caplog.at_level(logging.ERROR, logger="streampose.stages.render"):
        stage.close()
    assert before.closed and after.closed
    assert "closing output BrokenClose failed" in caplog.text
    assert "disk full" in caplog.text


def test_an_output_error_on_close_is_raised_after_the_others_closed(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable
) -> None:
    class FullDisk(Recorder):
        def close(self) -> None:
            raise OSError(28, "No space left on device")

    before, after = Recorder(frames, free_slots), Recorder(frames, free_slots)
    stage = render(frames, [before, FullDisk(frames, free_slots), after], stage_control)
    with pytest.raises(OutputError, match=r"^output FullDisk: cannot close \(No space left"):
        stage.close()
    assert before.closed and after.closed


def test_a_sink_failing_to_open_closes_those_already_open(frames: list[SharedRing],
                                      stage_control: StageControl,
                                      free_slots: Callable) -> None:
    class FailsToOpen(Recorder):
        def open(self) -> None:
            raise OSError("no such folder")

    good, bad, never = (Recorder(frames, free_slots), FailsToOpen(frames, free_slots),
                        Recorder(frames, free_slots))
    stage = RenderStage(frames=frames, results=queue.Queue(), sinks=[good, bad, never],
                        skeleton="coco18", counters=StreamCounters(streams=2, ctx=CTX))
    stage.control = stage_control
    with pytest.raises(OSError, match="no such folder"):
        stage.open()  # the runner does not call close() after this: open cleans up
    assert good.closed and not bad.closed and not never.closed and not never.opened


class OneTrack:
    """Every person is track 0."""

    def update(self, poses: Poses) -> Poses:
        return poses.with_track_ids(np.zeros(len(poses), np.int64))


class EventRecorder(Sink):
    """Records frames and events in the order it gets them."""

    def __init__(self, *, wants_events: bool) -> None:
        self.wants_events = wants_events
        self.log: list[tuple[Any, ...]] = []

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        self.log.append(("frame", meta.stream, meta.frame))

    def write_events(self, meta: FrameMeta, events: Any) -> None:
        self.log.append(("events", meta.stream, meta.frame,
                         [(e.camera, e.type, e.rule) for e in events]))

    def frame_done(self, meta: FrameMeta) -> None:
        self.log.append(("done", meta.stream, meta.frame))


def test_each_stream_s_engine_hands_events_to_the_sinks_that_want_them(
    frames: list[SharedRing], stage_control: StageControl
) -> None:
    from streampose.events import EventEngine, ZoneRule
    from streampose.pose import COCO18

    zone = ZoneRule(name="all", polygon=((0.0, 0.0), (W, 0.0), (W, H), (0.0, H)), band=0.0)
    wanting, plain = EventRecorder(wants_events=True), EventRecorder(wants_events=False)
    stage = render(frames, [wanting, plain], stage_control,
                   makers=CameraMakers(tracker=OneTrack,
                                       events=lambda s: EventEngine(camera=f"cam{s}",
                                                                    rules=[zone],
                                                                    skeleton=COCO18)))
    feed(stage, result(0, 0, lease_frame(frames[0], 0, 0)))  # keypoints at (1, 1): inside
    feed(stage, result(0, 1, lease_frame(frames[0], 0, 1)))  # still inside: no event
    feed(stage, result(1, 0, lease_frame(frames[1], 1, 0)))  # another camera's engine
    assert wanting.log == [  # each frame ends with its events, and then done
        ("frame", 0, 0), ("events", 0, 0, [("cam0", "enter", "all")]), ("done", 0, 0),
        ("frame", 0, 1), ("done", 0, 1),
        ("frame", 1, 0), ("events", 1, 0, [("cam1", "enter", "all")]), ("done", 1, 0)]
    assert plain.log == [("frame", 0, 0), ("done", 0, 0), ("frame", 0, 1), ("done", 0, 1),
                         ("frame", 1, 0), ("done", 1, 0)]
    assert [stage.counters.get(s, "events") for s in (0, 1)] == [1, 1]
    stage.close()


def test_a_render_shard_owns_some_streams_and_ends_with_them(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable
) -> None:
    """Stream 0 belongs to another shard: this one ends when stream 1 ended, in order."""
    sink = Recorder(frames, free_slots)
    stage = render([None, frames[1]], [sink], stage_control, name="render1")
    assert stage.owned == [1]
    leases = [lease_frame(frames[1], 1, seq) for seq in range(2)]
    assert feed(stage, eos(1, 2)) is True  # the end may come before the frames
    assert feed(stage, result(1, 1, leases[1])) is True
    assert feed(stage, result(1, 0, leases[0])) is False  # every frame of stream 1 is out
    assert [(m.stream, m.frame) for m, _, _ in sink.written] == [(1, 0), (1, 1)]
    assert free_slots(frames[1]) == SLOTS and stage.name == "render1"
    report = stage.extra_report()
    assert report["first_out_at"] <= report["last_out_at"]
    stage.close()



def test_a_seat_s_camera_is_followed_from_its_first_frame_to_its_detach_marker(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable
) -> None:
    from streampose.cameras.seats import SeatTable
    from streampose.config.camera import Camera
    from streampose.config.overrides import StreamSettings
    from streampose.config.sections import DrawConfig, LiveConfig
    from streampose.outputs.factory import EncoderSettings
    from streampose.stages.render_parts import SeatOutputs
    from streampose.transport.messages import FLAG_DETACH

    class PerStream(Recorder):
        def __init__(self) -> None:
            super().__init__(frames, free_slots)
            self.stream, self.camera = 0, ""

    table = SeatTable(seats=2, ctx=CTX)
    seats = SeatOutputs(table=table, template=None, encoder=EncoderSettings(),
                        settings=StreamSettings(live=LiveConfig(), draw=DrawConfig()),
                        tracking=False)
    sink = PerStream()
    stage = render(frames, [sink], stage_control,
                   makers=CameraMakers(cameras=["", ""], seats=seats))
    table.assign(0, Camera(name="door", url="rtsp://cam/door"))
    feed(stage, result(0, 0, lease_frame(frames[0], 0, 0)))
    assert sink.written[0][0].camera == "door" and sink.camera == "door"
    table.release(0)
    generation = table.generation(0)
    marker = FrameHeader(stream=0, seq=1, pts=generation, flags=FLAG_EOS | FLAG_DETACH,
                         ticket=1)
    assert not table.is_free(0)
    assert feed(stage, PoseResult(marker)) is True  # a detach is no end of the stream
    assert table.is_free(0) and stage.states[0].camera is None
    assert free_slots(frames[0]) == SLOTS
    stage.close()


def test_a_fixed_seat_s_camera_keeps_records_unnamed_without_a_cameras_file(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable
) -> None:
    """A fixed run's seat is attached at its first frame too; where the records name no
    camera (sources, no cameras file) its sinks are not renamed."""
    from streampose.cameras.seats import SeatTable
    from streampose.config.camera import Camera
    from streampose.config.overrides import StreamSettings
    from streampose.config.sections import DrawConfig, LiveConfig
    from streampose.outputs.factory import EncoderSettings
    from streampose.stages.render_parts import SeatOutputs

    class PerStream(Recorder):
        def __init__(self) -> None:
            super().__init__(frames, free_slots)
            self.stream, self.camera = 0, None

    table = SeatTable(seats=2, ctx=CTX, changing=False)
    table.assign(0, Camera(name="entrance", url="/v/entrance.mp4"))
    seats = SeatOutputs(table=table, template=None, encoder=EncoderSettings(),
                        settings=StreamSettings(live=LiveConfig(), draw=DrawConfig()),
                        tracking=False)
    sink = PerStream()
    stage = render(frames, [sink], stage_control, makers=CameraMakers(seats=seats))
    feed(stage, result(0, 0, lease_frame(frames[0], 0, 0)))
    assert sink.written[0][0].camera is None and sink.camera is None
    assert stage.states[0].camera == Camera(name="entrance", url="/v/entrance.mp4")
    assert not stage.states.needs_attach(0)
    stage.close()


def test_a_person_too_doubtful_to_draw_is_still_in_the_json_lines(
    frames: list[SharedRing], stage_control: StageControl, free_slots: Callable, tmp_path: Path
) -> None:
    """``[draw] min_score / min_keypoints`` leave the picture alone; the outputs keep the
    person, with its score."""
    from streampose.outputs.jsonl import JsonLinesSink
    from streampose.render import build_annotators

    recorder, path = Recorder(frames, free_slots), tmp_path / "poses.jsonl"
    draw = CameraMakers(annotators=lambda stream: build_annotators(min_score=0.3,
                                                                   min_keypoints=4))
    stage = render(frames, [recorder, JsonLinesSink(path=path)], stage_control, makers=draw)
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, :, 0], kp[0, :, 1], kp[0, :, 2] = np.linspace(4, 28, 18), np.linspace(3, 21, 18), 0.9
    for seq, score in enumerate((0.2, 0.5)):  # too doubtful, then drawn
        header = result(0, seq, lease_frame(frames[0], 0, seq)).header
        feed(stage, PoseResult(header, kp, np.array([score], np.float32)))
    stage.close()
    assert (recorder.images[0] == pixels(0, 0)).all()  # nothing drawn
    assert not (recorder.images[1] == pixels(0, 1)).all()  # the same person, drawn
    lines = [json.loads(line) for line in path.read_text().splitlines()]
    assert [[p["score"] for p in line["persons"]] for line in lines] == [[0.2], [0.5]]


class PoseSink(Sink):
    """Keeps each frame's meta and poses."""

    def __init__(self) -> None:
        self.got: list[tuple[FrameMeta, Poses]] = []

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        self.got.append((meta, poses))


class Spots:
    """An annotator that keeps the keypoints it was asked to draw."""

    def __init__(self) -> None:
        self.drawn: list[np.ndarray] = []

    def annotate(self, frame: np.ndarray, poses: Poses) -> np.ndarray:
        self.drawn.append(poses.keypoints.copy())
        return frame


def test_a_frame_decode_scaled_down_gives_poses_in_the_source_s_pixels(
    frames: list[SharedRing], stage_control: StageControl
) -> None:
    """Decode scaled a 64x48 picture to the 32x24 slot: the sinks get its poses in
    64x48 pixels (and the records say that size); drawing is on the slot's pixels."""
    sink, spots = PoseSink(), Spots()
    stage = render(frames, [sink, Recorder(frames, lambda ring: 0)], stage_control,
                   makers=CameraMakers(annotators=lambda stream: [spots]),
                   sizes=[(W, H), (W, H)])
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, 0] = (5.0, 7.0, 0.9)  # the nose, in the slot's pixels; the rest missing
    plain = result(0, 0, lease_frame(frames[0], 0, 0)).header
    scaled = replace(result(0, 1, lease_frame(frames[0], 0, 1)).header,
                     source_size=(2 * W, 2 * H), source_scale=(2.0, 2.0))
    for header in (plain, scaled):
        feed(stage, PoseResult(header, kp, np.array([0.9], np.float32)))
    stage.close()
    (first, as_found), (second, in_source) = sink.got
    assert first.size is None and second.size == (2 * W, 2 * H)
    assert as_found.keypoints[0, 0].tolist() == pytest.approx([5.0, 7.0, 0.9])
    assert in_source.keypoints[0, 0].tolist() == pytest.approx([10.5, 14.5, 0.9])
    assert (in_source.keypoints[0, 1:] == 0).all()  # missing keypoints stay missing
    assert [d[0, 0, :2].tolist() for d in spots.drawn] == [[5.0, 7.0], [5.0, 7.0]]
