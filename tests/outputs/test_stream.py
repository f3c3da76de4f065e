"""The Python stream output: each frame's result, with its events, to the caller's queue;
a file's result waits for room, a live camera's is dropped and counted."""

from __future__ import annotations

import queue
import threading
from dataclasses import replace

import numpy as np

from streampose.events import Event
from streampose.outputs.jsonl import frame_record
from streampose.outputs.stream import FrameResult, StreamEnd, StreamSink
from tests.events.people import at, meta, poses


def _event(frame: int) -> Event:
    return Event(camera="cam", type="line", rule="door", track_id=1, time=1.0, frame=frame,
                 pts=0.1, position=(1.0, 2.0))


def _frame(sink: StreamSink, frame: int, *, events: int = 0,
           image: np.ndarray | None = None, stream: int = 0) -> None:
    """What render does for one frame: write, the frame's events, done."""
    m = replace(meta(frame), stream=stream)
    sink.write(m, poses({7: at(10, 20)}), image)
    if events:
        sink.write_events(m, [_event(frame)] * events)
    sink.frame_done(m)


def test_each_frame_goes_with_its_events_and_its_json_record() -> None:
    channel: queue.Queue[object] = queue.Queue()
    sink = StreamSink(channel=channel, live=[False], cameras=["vtest"])
    _frame(sink, 0)
    _frame(sink, 1, events=2)
    first, second = channel.get_nowait(), channel.get_nowait()
    assert isinstance(first, FrameResult) and isinstance(second, FrameResult)
    assert (first.camera, first.frame, first.events, first.image) == ("vtest", 0, (), None)
    assert [e.frame for e in second.events] == [1, 1]
    assert second.to_json() == frame_record(second.meta, second.poses)
    assert second.poses.track_ids.tolist() == [7] and second.time == 0.1
    assert not sink.wants_image


def test_the_picture_is_a_copy_taken_before_the_slot_is_reused() -> None:
    channel: queue.Queue[object] = queue.Queue()
    sink = StreamSink(channel=channel, live=[False], cameras=["c"], images=True)
    slot = np.full((4, 6, 3), 9, np.uint8)
    _frame(sink, 0, image=slot)
    slot[:] = 0  # the ring's slot, written with the next frame
    result = channel.get_nowait()
    assert sink.wants_image and isinstance(result, FrameResult)
    assert result.image is not None and int(result.image.min()) == 9


def test_a_file_waits_for_the_caller() -> None:
    channel: queue.Queue[object] = queue.Queue(maxsize=1)
    sink = StreamSink(channel=channel, live=[False], cameras=["c"])
    _frame(sink, 0)
    writer = threading.Thread(target=_frame, args=(sink, 1))
    writer.start()
    writer.join(0.3)
    assert writer.is_alive()  # the queue is full: render waits
    assert channel.get(timeout=5).frame == 0  # type: ignore[attr-defined]
    writer.join(5)
    assert channel.get(timeout=5).frame == 1 and sink.dropped == [0]  # type: ignore[attr-defined]


def test_a_live_camera_drops_and_counts_what_the_caller_has_no_room_for() -> None:
    channel: queue.Queue[object] = queue.Queue(maxsize=2)
    sink = StreamSink(channel=channel, live=[True, True], cameras=["a", "b"])
    for frame in range(5):  # nobody reads: 2 queued, 3 dropped
        _frame(sink, frame)
    assert sink.dropped == [3, 0]
    assert [channel.get_nowait().frame for _ in range(2)] == [0, 1]  # type: ignore[attr-defined]
    _frame(sink, 5)
    _frame(sink, 6, stream=1)
    later = channel.get_nowait()
    assert isinstance(later, FrameResult) and (later.frame, later.dropped) == (5, 3)
    assert channel.get_nowait().dropped == 0  # type: ignore[attr-defined]
    assert sink.dropped == [0, 0]  # told


def test_closing_tells_the_drops_no_result_carried() -> None:
    channel: queue.Queue[object] = queue.Queue(maxsize=1)
    sink = StreamSink(channel=channel, live=[True], cameras=["a"])
    _frame(sink, 0)
    _frame(sink, 1)  # dropped
    assert channel.get_nowait().frame == 0  # type: ignore[attr-defined]
    sink.close()
    end = channel.get_nowait()
    assert isinstance(end, StreamEnd) and end.dropped == {0: 1}
    sink.close()  # nothing left to tell
    assert channel.empty()
