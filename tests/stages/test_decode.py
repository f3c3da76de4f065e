"""DecodeStage with each policy, fed into a real in-memory SharedRing (no pipeline spawned).

The stage runs in a thread of the test process; the test reads the ring as preprocess
and render would (acquire_read, then release).
"""

from __future__ import annotations

import logging
import multiprocessing as mp
import os
import pickle
import queue
import threading
from collections.abc import Callable, Iterator
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from streampose.cameras.seats import SEAT_MAX_ASPECT, SeatTable
from streampose.config.camera import Camera
from streampose.config.overrides import StreamSettings
from streampose.config.sections import DrawConfig, LiveConfig
from streampose.errors import SourceError
from streampose.observe.counters import StreamCounters
from streampose.runtime.control import StageControl
from streampose.sources import (
    LIVE_TIME_BASE,
    Frame,
    ProbedSource,
    Source,
    SourceInfo,
    VideoFileSource,
    create_source,
)
from streampose.stages.decode import (
    BlockingPolicy,
    DecodeStage,
    LivePolicy,
    SeatPolicy,
    backoff_s,
    policy_for,
)
from streampose.transport.messages import (
    FLAG_DROPPED_BEFORE,
    FLAG_RECONNECTED,
    FRAME_CODEC,
    FrameHeader,
)
from streampose.transport.ring import SharedRing
from tests.support.media import H, W, assert_close, make_pattern_video, pattern, write_image

CTX = mp.get_context("spawn")
WAIT_S = 10.0  # generous: a broken stage must fail the test, not hang it
FAST = LiveConfig(max_backoff_s=0.1)


@pytest.fixture
def make_ring() -> Iterator[Callable[..., SharedRing]]:
    rings: list[SharedRing] = []

    def make(*, slots: int, policy: str = "block", slot_bytes: int = W * H * 3) -> SharedRing:
        rings.append(SharedRing.create(ctx=CTX, name=f"decode{len(rings)}", slots=slots,
                                       slot_bytes=slot_bytes, policy=policy,
                                       codec=FRAME_CODEC))  # fmt: skip
        return rings[-1]

    yield make
    for ring in rings:
        ring.close()
        ring.unlink()


def control(**kwargs: Any) -> StageControl:
    return StageControl(stop=threading.Event(), stop_sources=threading.Event(),
                        errors=queue.Queue(), reports=queue.Queue(), parent_pid=os.getppid(),
                        **kwargs)  # fmt: skip


def make_stage(source: Source, ring: SharedRing, policy: Any, **kwargs: Any) -> DecodeStage:
    stage = DecodeStage(stream=0, source=source, ring=ring, doorbell=threading.Semaphore(0),
                        counters=StreamCounters(streams=1, ctx=CTX), policy=policy,
                        **kwargs)  # fmt: skip
    stage.control = control()
    return stage


def start(stage: DecodeStage) -> threading.Thread:
    """Run the stage's open/step loop in a thread (close() is the test's, after reading)."""

    def loop() -> None:
        stage.open()
        while stage.step():
            pass

    thread = threading.Thread(target=loop, daemon=True)
    thread.start()
    return thread


def read_all(ring: SharedRing) -> list[tuple[FrameHeader, np.ndarray | None]]:
    """Every item up to and including the end of stream (images copied out)."""
    items: list[tuple[FrameHeader, np.ndarray | None]] = []
    while not items or not items[-1][0].eos:
        got = ring.acquire_read(WAIT_S)
        assert got is not None, f"no end of stream after {len(items)} items"
        slot, header = got
        image = None if header.eos else ring.view(slot, header.shape, header.dtype).copy()
        items.append((header, image))
        ring.release(slot)
    return items


def finish(stage: DecodeStage, thread: threading.Thread) -> None:
    thread.join(WAIT_S)
    assert not thread.is_alive()
    stage.close()


# -- BlockingPolicy --------------------------------------------------------------------


def test_blocking_policy_is_lossless_through_a_small_ring(
    tmp_path: Path, make_ring: Callable[..., SharedRing]
) -> None:
    path = make_pattern_video(tmp_path / "clip.mkv", 12, codec="mpeg4")  # time base 1/1000
    ring = make_ring(slots=3)
    stage = make_stage(VideoFileSource(path=path), ring, BlockingPolicy())
    thread = start(stage)
    items = read_all(ring)
    finish(stage, thread)
    frames, eos = items[:-1], items[-1][0]
    assert [h.seq for h, _ in frames] == list(range(12)) and eos.seq == 12
    assert [h.pts for h, _ in frames] == [100 * i for i in range(12)]
    assert all(h.time_base == Fraction(1, 1000) and h.flags == 0 for h, _ in frames)
    assert all((h.width, h.height, h.shape) == (W, H, (H, W, 3)) for h, _ in frames)
    assert all(h.source_size == (0, 0) and not h.rescaled for h, _ in frames)  # as they came
    for i, (_, image) in enumerate(frames):
        assert_close(image, pattern(i))
    assert stage.counters.get(0, "frames_in") == stage.items == 12


def test_blocking_policy_stops_at_max_frames(
    tmp_path: Path, make_ring: Callable[..., SharedRing]
) -> None:
    ring = make_ring(slots=4)
    source = VideoFileSource(path=make_pattern_video(tmp_path / "clip.mp4", 12))
    stage = make_stage(source, ring, BlockingPolicy(), max_frames=5)
    thread = start(stage)
    items = read_all(ring)
    finish(stage, thread)
    assert [h.seq for h, _ in items] == [0, 1, 2, 3, 4, 5] and items[-1][0].eos


def test_blocking_policy_ends_the_stream_when_sources_stop(
    tmp_path: Path, make_ring: Callable[..., SharedRing]
) -> None:
    ring = make_ring(slots=4)
    stage = make_stage(VideoFileSource(path=make_pattern_video(tmp_path / "c.mp4", 5)), ring,
                       BlockingPolicy())  # fmt: skip
    stage.control.stop_sources.set()  # type: ignore[union-attr]
    thread = start(stage)
    (only,) = read_all(ring)
    finish(stage, thread)
    assert only[0].eos and only[0].seq == 0 and stage.items == 0


def test_blocking_policy_keeps_each_image_size(
    tmp_path: Path, make_ring: Callable[..., SharedRing]
) -> None:
    for i in range(3):
        write_image(tmp_path / f"img{i}.png", 10 * i, (W - 2 * i, H))
    ring = make_ring(slots=2)
    stage = make_stage(create_source(tmp_path), ring, BlockingPolicy())
    thread = start(stage)
    items = read_all(ring)
    finish(stage, thread)
    assert [(h.width, h.pts, h.time_base) for h, _ in items[:-1]] == [
        (W, 0, 1), (W - 2, 1, 1), (W - 4, 2, 1)]  # fmt: skip


def test_blocking_policy_counts_unreadable_images_and_keeps_their_numbers(
    tmp_path: Path, make_ring: Callable[..., SharedRing]
) -> None:
    for i in range(4):
        write_image(tmp_path / f"img{i}.png", 10 * i)
    (tmp_path / "img1.png").write_text("not a png")
    ring = make_ring(slots=2)
    stage = make_stage(create_source(tmp_path), ring, BlockingPolicy())
    thread = start(stage)
    items = read_all(ring)
    finish(stage, thread)
    assert [h.seq for h, _ in items] == [0, 2, 3, 4]  # frames keep their names' positions
    assert stage.counters.get(0, "decode_errors") == 1
    assert stage.counters.get(0, "frames_in") == 3


# -- LivePolicy ------------------------------------------------------------------------


class ScriptedCamera(Source):
    """A live source whose connections are scripted: each ``open()`` takes the next entry,
    a frame count (that many frames, then the stream ends) or ``"down"`` (SourceError);
    when the script runs out, every open fails."""

    def __init__(self, script: list[int | str], *, width: int = W) -> None:
        self.uri = "rtsp://user:secret@camera/1"
        self.script, self.width, self.opens = list(script), width, 0
        self._frames: int | None = None
        self._sent = 0

    def open(self) -> SourceInfo:
        if self._frames is not None:
            return self.info
        entry = self.script.pop(0) if self.script else "down"
        self.opens += 1
        if entry == "down":
            raise SourceError("rtsp://user:***@camera/1: cannot open (Connection refused)")
        self._frames = int(entry)
        self._info = SourceInfo(uri="rtsp://user:***@camera/1", width=self.width, height=H,
                                time_base=LIVE_TIME_BASE, fps=None, frames=None, live=True)
        return self._info

    def frames(self) -> Iterator[Frame]:
        count = self._frames or 0
        for index in range(count):
            self._sent += 1
            image = np.full((H, self.width, 3), self._sent % 256, np.uint8)
            yield Frame(image=image, pts=10 * self._sent, index=index, wall=1000.0 + self._sent)

    def close(self) -> None:
        self._frames = None


def wait_for(condition: Callable[[], bool]) -> None:
    """Poll ``condition`` until it holds (bounded by WAIT_S; the asserts after tell)."""
    pause = threading.Event()
    for _ in range(int(WAIT_S / 0.01)):
        if condition():
            return
        pause.wait(0.01)


def run_live(stage: DecodeStage, *, until: Callable[[], bool]) -> threading.Thread:
    """Start the stage; once ``until()`` holds, ask the sources to stop (the stage ends)."""
    thread = start(stage)
    wait_for(until)
    stage.control.stop_sources.set()  # type: ignore[union-attr]
    return thread


def test_live_policy_reconnects_with_backoff_and_flags_the_first_frame_after(
    make_ring: Callable[..., SharedRing]
) -> None:
    ring = make_ring(slots=8, policy="drop_oldest")
    camera = ScriptedCamera([3, "down", 2])
    stage = make_stage(camera, ring, LivePolicy(config=FAST, max_size=(W, H)))
    thread = run_live(stage, until=lambda: stage.counters.get(0, "frames_in") == 5)
    items = read_all(ring)
    finish(stage, thread)
    frames = [h for h, _ in items[:-1]]
    assert [h.seq for h in frames] == [0, 1, 2, 3, 4] and items[-1][0].seq == 5
    assert [h.flags for h in frames] == [0, 0, 0, FLAG_RECONNECTED, 0]
    assert [h.pts for h in frames] == [10, 20, 30, 40, 50]
    assert [h.wall for h in frames] == [1001.0, 1002.0, 1003.0, 1004.0, 1005.0]
    assert all(h.time_base == LIVE_TIME_BASE for h in frames)
    assert stage.counters.get(0, "reconnects") == 1 and stage.counters.get(0, "dropped") == 0
    assert camera.opens >= 3


def test_live_policy_never_opened_without_reconnect_fails_the_stage(
    make_ring: Callable[..., SharedRing]
) -> None:
    ring = make_ring(slots=2, policy="drop_oldest")
    policy = LivePolicy(config=LiveConfig(reconnect=False), max_size=(W, H))
    stage = make_stage(ScriptedCamera(["down"]), ring, policy)
    stage.open()
    wait_for(lambda: not policy._reader.is_alive())
    with pytest.raises(SourceError, match=r"camera/1: cannot open \(Connection refused\)"):
        while stage.step():
            pass
    stage.close()


def test_live_policy_says_not_reachable_yet_before_the_first_connection(
    make_ring: Callable[..., SharedRing], caplog: pytest.LogCaptureFixture
) -> None:
    ring = make_ring(slots=8, policy="drop_oldest")
    stage = make_stage(ScriptedCamera(["down", 2, "down"]), ring,
                       LivePolicy(config=FAST, max_size=(W, H)))
    with caplog.at_level(logging.WARNING, logger="streampose.stages.decode"):
        thread = run_live(stage, until=lambda: "lost; reconnecting" in caplog.text)
        read_all(ring)
        finish(stage, thread)
    text = caplog.text
    assert "not reachable yet; retrying" in text and "lost; reconnecting" in text
    assert text.index("not reachable yet") < text.index("lost; reconnecting")


def test_live_policy_drops_the_oldest_when_nobody_reads(
    make_ring: Callable[..., SharedRing]
) -> None:
    ring = make_ring(slots=2, policy="drop_oldest")
    live = LiveConfig(reconnect=False)
    stage = make_stage(ScriptedCamera([5]), ring, LivePolicy(config=live, max_size=(W, H)))
    thread = start(stage)  # the reader ends after 5 frames (no reconnect): the stage ends
    thread.join(WAIT_S)
    items = read_all(ring)
    finish(stage, thread)
    # Frames 2, 3, 4 each evicted an older one; the end of stream evicted frame 3: every
    # frame in is written or counted as dropped.
    assert [(h.seq, h.flags) for h, _ in items] == [(4, FLAG_DROPPED_BEFORE), (5, 1)]
    assert stage.counters.get(0, "frames_in") == 5 and stage.counters.get(0, "dropped") == 4
    assert int(items[0][1].mean()) == 5


def test_live_frames_dropped_for_want_of_a_slot_leave_a_gap_in_seq(
    make_ring: Callable[..., SharedRing]
) -> None:
    """Every slot in flight (leased downstream): the frame is dropped before it gets one,
    and its index is used up, so the written frames' seq (the outputs' ``frame``) shows
    every drop as a gap."""
    ring = make_ring(slots=2, policy="drop_oldest")
    camera = ScriptedCamera([4])
    policy = LivePolicy(config=FAST, max_size=(W, H))
    stage = make_stage(camera, ring, policy)
    policy._stage, policy._flags = stage, 0  # what start() sets, without its thread
    policy._halt, policy._lock = threading.Event(), threading.Lock()
    camera.open()
    frames = list(camera.frames())
    assert policy._offer(frames[0]) and policy._offer(frames[1])
    leased = [ring.acquire_read(0), ring.acquire_read(0)]  # both in flight downstream
    assert policy._offer(frames[2])  # no slot: dropped
    for slot, _header in leased:
        ring.release(slot)
    assert policy._offer(frames[3])
    slot, last = ring.acquire_read(0)
    ring.release(slot)
    assert [h.seq for _, h in leased] + [last.seq] == [0, 1, 3]
    assert last.flags == FLAG_DROPPED_BEFORE
    assert stage.counters.get(0, "frames_in") == 4 and stage.counters.get(0, "dropped") == 1


def test_live_policy_scales_frames_larger_than_the_slots(
    make_ring: Callable[..., SharedRing]
) -> None:
    ring = make_ring(slots=4, policy="drop_oldest")
    camera = ScriptedCamera([1], width=2 * W)  # the camera came back at twice the width
    stage = make_stage(camera, ring, LivePolicy(config=FAST, max_size=(W, H)))
    thread = run_live(stage, until=lambda: stage.items == 1)
    (frame, _), (eos, _) = read_all(ring)
    finish(stage, thread)
    assert (frame.width, frame.height, frame.shape) == (W, H // 2, (H // 2, W, 3))
    assert frame.source == (2 * W, H) and frame.source_scale == (2.0, 2.0)  # what it was
    assert eos.eos


def test_live_policy_connects_at_once_and_reads_once_every_stage_is_open(
    make_ring: Callable[..., SharedRing]
) -> None:
    """The connection is made while the model loads; frames flow once every stage is open."""
    ring = make_ring(slots=4, policy="drop_oldest")
    camera = ScriptedCamera([2])
    stage = make_stage(camera, ring, LivePolicy(config=FAST, max_size=(W, H)))
    opened = CTX.Value("i", 1)
    stage.control = control(opened=opened, stages=2)
    thread = start(stage)
    wait_for(lambda: camera.opens == 1)
    threading.Event().wait(0.3)
    assert stage.items == 0 and ring.acquire_read(0.0) is None  # waiting for the other stage
    opened.value = 2
    wait_for(lambda: stage.items == 2)
    stage.control.stop_sources.set()
    items = read_all(ring)
    finish(stage, thread)
    assert [h.seq for h, _ in items] == [0, 1, 2] and camera.opens >= 1


# -- choosing and shipping a policy ----------------------------------------------------


def test_backoff_doubles_from_half_a_second_up_to_the_cap() -> None:
    assert [backoff_s(a, 4.0) for a in range(1, 7)] == [0.5, 1.0, 2.0, 4.0, 4.0, 4.0]
    assert backoff_s(50, 3600.0) == 512.0


def test_policy_follows_whether_the_source_is_live() -> None:
    info = SourceInfo(uri="x", width=640, height=480, time_base=LIVE_TIME_BASE, fps=None,
                      frames=None, live=True)  # fmt: skip
    live = policy_for(ProbedSource(info, ((640, 480),), live=True), FAST)
    assert isinstance(live, LivePolicy) and live.max_size == (640, 480)
    assert live.ring_policy == "drop_oldest"
    blocking = policy_for(ProbedSource(info, ((640, 480),)), FAST)
    assert isinstance(blocking, BlockingPolicy) and blocking.ring_policy == "block"


def _file_seat(path: Path, *, changing: bool) -> SeatPolicy:
    """A seat policy whose one seat carries the video file ``path``."""
    table = SeatTable(seats=1, ctx=CTX, changing=changing)
    table.assign(0, Camera(name="clip", url=str(path)))
    info = SourceInfo(uri=str(path), width=W, height=H, time_base=Fraction(1, 1000), fps=None,
                      frames=None, live=False)  # fmt: skip
    return SeatPolicy(seats=table, settings=StreamSettings(live=FAST, draw=DrawConfig()),
                      probed=ProbedSource(info, ((W, H),)))


def test_a_fixed_seat_reads_its_file_to_the_end_of_the_stream(
    tmp_path: Path, make_ring: Callable[..., SharedRing]
) -> None:
    """A fixed run is seats assigned once: the file's frames, losslessly, then a plain end
    of stream (no detach marker before or after)."""
    policy = _file_seat(make_pattern_video(tmp_path / "clip.mkv", 6, codec="mpeg4"),
                        changing=False)
    assert policy.ring_policy == "block"
    ring = make_ring(slots=2)
    stage = make_stage(None, ring, policy)  # type: ignore[arg-type]  # the seat's source
    thread = start(stage)
    items = read_all(ring)
    finish(stage, thread)
    assert [h.seq for h, _ in items] == list(range(7)) and items[-1][0].eos
    assert not any(h.detach for h, _ in items)
    for i, (_, image) in enumerate(items[:-1]):
        assert_close(image, pattern(i))


def test_a_changing_seat_detaches_a_camera_that_ended_and_waits(
    tmp_path: Path, make_ring: Callable[..., SharedRing]
) -> None:
    """In a changing table a camera's end is a detach marker; the stream ends only when
    the sources stop."""
    policy = _file_seat(make_pattern_video(tmp_path / "clip.mkv", 3, codec="mpeg4"),
                        changing=True)
    ring = make_ring(slots=8)
    stage = make_stage(None, ring, policy)  # type: ignore[arg-type]  # the seat's source
    thread = start(stage)
    items = [ring.acquire_read(WAIT_S) for _ in range(4)]
    assert all(got is not None for got in items)
    headers = [got[1] for got in items if got is not None]
    assert [h.seq for h in headers[:3]] == [0, 1, 2] and not any(h.eos for h in headers[:3])
    assert headers[3].detach and headers[3].pts == 1  # the generation it detaches
    for slot, _ in (got for got in items if got is not None):
        ring.release(slot)
    assert thread.is_alive()  # waiting for the next camera
    assert stage.control is not None
    stage.control.stop_sources.set()
    end = ring.acquire_read(WAIT_S)
    assert end is not None and end[1].eos and not end[1].detach
    ring.release(end[0])
    finish(stage, thread)


def test_stage_parts_pickle_before_they_start(tmp_path: Path) -> None:
    """The supervisor pickles stages to spawn them: sources and policies must travel."""
    for part in (LivePolicy(config=FAST, max_size=(W, H)), BlockingPolicy(),
                 create_source("rtsp://cam/1", live=FAST), create_source(tmp_path / "a.mp4")):
        assert type(pickle.loads(pickle.dumps(part))) is type(part)


def test_a_slot_pads_a_frame_wider_than_its_buffers_allow() -> None:
    from streampose.sources import Frame

    class Stage:
        name, counts = "decode0", []

        def count(self, name: str, n: int = 1) -> None:
            self.counts.append(name)

    policy, stage = LivePolicy(config=FAST, max_size=(1920, 1080), max_aspect=2.0), Stage()
    wide = np.full((100, 320, 3), 7, np.uint8)  # 3.2:1
    out = policy.fit(stage, Frame(image=wide, pts=0, index=0)).image
    assert out.shape == (160, 320, 3)  # 2:1, the picture on top, unchanged
    assert (out[:100] == 7).all() and (out[100:] == 0).all()
    plain = np.zeros((100, 150, 3), np.uint8)
    assert policy.fit(stage, Frame(image=plain, pts=0, index=0)).image is plain
    huge = np.zeros((1000, 4000, 3), np.uint8)  # scaled to fit first, then padded
    assert policy.fit(stage, Frame(image=huge, pts=0, index=0)).image.shape == (960, 1920, 3)
    assert policy.fit.placed == ((4000, 1000), (4000 / 1920, 1000 / 480))
    assert stage.counts == ["rescaled"]


def test_a_slot_s_next_camera_is_counted_from_none(
    make_ring: Callable[..., SharedRing]
) -> None:
    class Damaged:
        def __init__(self, errors: int) -> None:
            self.decode_errors, self.uri = errors, "rtsp://cam/x"

    stage = make_stage(Damaged(3), make_ring(slots=4), BlockingPolicy())  # type: ignore[arg-type]
    stage.count_damage()
    stage.begin_source(Damaged(2))  # type: ignore[arg-type]
    stage.count_damage()
    assert stage.counters.get(0, "decode_errors") == 5


def test_policies_fit_frames_to_the_bound() -> None:
    info = SourceInfo(uri="rtsp://x/y", width=640, height=480, time_base=Fraction(1, 1000),
                      fps=None, frames=None, live=True)
    live = policy_for(ProbedSource(info, ((640, 480),), live=True, bound=(1280, 960)), FAST)
    assert isinstance(live, LivePolicy) and live.max_size == (1280, 960)
    assert live.max_aspect is None
    down = policy_for(ProbedSource(info, ((3840, 2160),), live=True, known=False,
                                   bound=(3840, 2160)), FAST)
    assert isinstance(down, LivePolicy) and down.max_aspect == SEAT_MAX_ASPECT
    blocking = policy_for(ProbedSource(info, ((640, 480),), bound=(1920, 1080)), FAST)
    assert isinstance(blocking, BlockingPolicy) and blocking.fit is not None
    assert blocking.fit.bound == (1920, 1080)
    plain = policy_for(ProbedSource(info, ((640, 480),)), FAST)
    assert isinstance(plain, BlockingPolicy) and plain.fit is None
