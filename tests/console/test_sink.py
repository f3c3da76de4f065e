"""The render side: pictures only while watched, at most ``fps``, never waiting; events
through a bounded queue that drops and counts."""

from __future__ import annotations

import queue
from dataclasses import dataclass, field
from typing import Any

import cv2
import numpy as np

from streampose.console.sink import ConsoleSink, fit_into, thumbnail
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


def _preview(link: Any, image: np.ndarray) -> np.ndarray:
    """The picture ``image`` gives in stream 0's preview (160x120)."""
    link.watch[0] = 1
    ConsoleSink(link=link, stream=0, camera="a").write(meta(0, 0), POSES, image)
    ring = link.previews[0]
    slot, header = ring.acquire_read(0.0)
    assert (header.width, header.height) == (160, 120)
    picture = ring.view(slot, (120, 160, 3), np.uint8).copy()
    ring.release(slot)
    return picture


def test_a_frame_of_another_aspect_ratio_is_letterboxed_not_stretched(make_link: Any) -> None:
    """The preview was made for 320x240 (4:3); a 16:9 frame (its camera changed
    resolution) fills its width, black bars above and below; a tall one, bars aside."""
    wide = _preview(make_link(fps=1e9), np.full((180, 320, 3), 200, np.uint8))
    assert (wide[:15] == 0).all() and (wide[-15:] == 0).all()  # 160x90, centred
    assert (wide[15:105] == 200).all()
    tall = _preview(make_link(fps=1e9), np.full((240, 160, 3), 90, np.uint8))
    assert (tall[:, :40] == 0).all() and (tall[:, -40:] == 0).all()  # 80x120, centred
    assert (tall[:, 40:120] == 90).all()


def test_a_frame_of_the_size_the_preview_was_made_for_fills_it(make_link: Any) -> None:
    """As before: the picture resized to the whole preview (its even rounding included)."""
    image = np.random.default_rng(1).integers(0, 256, (241, 322, 3), np.uint8)
    link = make_link(fps=1e9, size=(322, 241))  # preview 160x118: not quite 322:241
    link.watch[0] = 1
    ConsoleSink(link=link, stream=0, camera="a").write(meta(0, 0), POSES, image)
    ring = link.previews[0]
    slot, header = ring.acquire_read(0.0)
    assert (header.width, header.height) == (160, 118)
    expected = cv2.resize(image, (160, 118), interpolation=cv2.INTER_AREA)
    assert (ring.view(slot, (118, 160, 3), np.uint8) == expected).all()
    ring.release(slot)


def test_fit_into_stretches_only_when_asked_or_the_aspect_is_the_same() -> None:
    out = np.full((10, 20, 3), 9, np.uint8)
    fit_into(np.full((5, 10, 3), 50, np.uint8), out)  # the same aspect: all of it
    assert (out == 50).all()
    fit_into(np.full((10, 10, 3), 70, np.uint8), out)  # square: bars aside, old ones gone
    assert (out[:, :5] == 0).all() and (out[:, 5:15] == 70).all() and (out[:, 15:] == 0).all()
    fit_into(np.full((10, 10, 3), 30, np.uint8), out, stretch=True)
    assert (out == 30).all()
