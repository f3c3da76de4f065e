"""The render side: pictures only while watched, at most ``fps``, never waiting; events
through a bounded queue that drops and counts."""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from streampose.console.sink import ConsoleSink, thumbnail
from streampose.outputs.base import FrameMeta
from streampose.pose import Poses, get_skeleton


@dataclass(frozen=True)
class FakeEvent:
    """The Event seam: only ``to_json()``, ``type`` and ``camera`` are used."""

    type: str = "line"
    camera: str = "ignored"
    details: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"camera": self.camera, "type": self.type, "rule": "door", "track_id": 3,
                "time": 1.7e9, "frame": 5, "pts": 0.5, "position": (1.0, 2.0), **self.details}


def meta(stream: int, frame: int) -> FrameMeta:
    return FrameMeta(stream=stream, frame=frame, pts=frame, pts_s=frame / 10, wall=1.7e9 + frame,
                     image_id=frame)


def picture(value: int) -> np.ndarray:
    return np.full((240, 320, 3), value, np.uint8)


POSES = Poses(np.zeros((0, 18, 3), np.float32), np.zeros(0, np.float32),
              get_skeleton("coco18"))


def test_nothing_is_copied_while_nobody_watches(make_link: Any) -> None:
    link = make_link(fps=1000.0)
    sink = ConsoleSink(link=link, stream=0, camera="a")
    for i in range(5):
        sink.write(meta(0, i), POSES, picture(i))
    assert link.previews[0].pending() == 0


def test_watched_stream_gets_scaled_pictures_at_most_fps(make_link: Any) -> None:
    link = make_link(fps=0.01)  # one picture per 100 s: the second write is always too soon
    link.watch[0] = 1
    sink = ConsoleSink(link=link, stream=0, camera="a")
    sink.write(meta(0, 0), POSES, picture(200))
    sink.write(meta(0, 1), POSES, picture(100))
    sink.write(meta(1, 2), POSES, picture(50))   # another stream's frame: ignored
    ring = link.previews[0]
    assert ring.pending() == 1 and link.previews[1].pending() == 0
    slot, header = ring.acquire_read(0.0)
    assert (header.frame, header.width, header.height) == (0, 160, 120)
    assert int(ring.view(slot, (120, 160, 3), np.uint8).mean()) == 200
    ring.release(slot)


def test_a_parent_that_never_reads_cannot_hold_up_render(make_link: Any) -> None:
    """Structural: the ring is drop_oldest with 3 slots; every write returns at once and
    the ring never holds more than its slots, however many frames go by."""
    link = make_link(fps=1e9)
    link.watch[0] = 1
    sink = ConsoleSink(link=link, stream=0, camera="a")
    for i in range(200):
        sink.write(meta(0, i), POSES, picture(i % 256))
    ring = link.previews[0]
    assert ring.policy == "drop_oldest" and ring.slots == 3
    assert ring.pending() <= ring.slots and ring.evicted_count >= 200 - ring.slots
    newest = max(ring.acquire_read(0.0)[1].frame for _ in range(ring.pending()))
    assert newest == 199


def test_events_reach_the_queue_with_a_thumbnail(make_link: Any) -> None:
    link = make_link()
    sink = ConsoleSink(link=link, stream=1, camera="door-cam")
    sink.write(meta(1, 5), POSES, picture(90))
    sink.write_events(meta(1, 5), [FakeEvent(details={"direction": "in"})])
    sink.write_events(meta(0, 5), [FakeEvent()])  # not its stream
    stream, record, thumb = link.events.get(timeout=10)
    assert stream == 1 and record["camera"] == "door-cam" and record["direction"] == "in"
    assert cv2.imdecode(np.frombuffer(thumb, np.uint8), cv2.IMREAD_COLOR).shape == (120, 160, 3)
    assert link.events.empty()


def test_an_event_without_its_frame_has_no_thumbnail(make_link: Any) -> None:
    link = make_link()
    sink = ConsoleSink(link=link, stream=0, camera="a")
    sink.write(meta(0, 4), POSES, picture(1))
    sink.write_events(meta(0, 5), [FakeEvent()])
    assert link.events.get(timeout=10)[2] == b""


def test_a_full_event_queue_drops_and_counts(make_link: Any) -> None:
    link = make_link(events_max=2)
    sink = ConsoleSink(link=link, stream=0, camera="a")
    sink.write(meta(0, 1), POSES, picture(1))
    sink.write_events(meta(0, 1), [FakeEvent() for _ in range(5)])
    assert link.dropped_events[0] == 3
    got = [link.events.get(timeout=10) for _ in range(2)]
    assert len(got) == 2
    try:
        link.events.get(timeout=0.2)
        raise AssertionError("more events than the queue holds")
    except queue.Empty:
        pass


def test_thumbnail_never_scales_up() -> None:
    small = np.zeros((40, 60, 3), np.uint8)
    assert cv2.imdecode(np.frombuffer(thumbnail(small), np.uint8), 1).shape == (40, 60, 3)
