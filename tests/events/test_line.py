"""Line crossings on synthetic tracks: both directions, jitter on the line, the ends."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.errors import ConfigError
from streampose.events import EventEngine, LineRule
from tests.events.people import SKELETON, at, keypoints, meta, poses

# Vertical, drawn bottom to top: "in" is moving right on screen. Band 8 px each side.
LINE = LineRule(name="door", a=(100.0, 200.0), b=(100.0, 0.0), band=8.0)


def _directions(xs: list[float], y: float = 100.0, rule: LineRule = LINE) -> list[str]:
    engine = EventEngine(camera="cam", rules=[rule], skeleton=SKELETON)
    found = []
    for frame, x in enumerate(xs):
        found += engine.update(meta(frame), poses({7: at(x, y)}))
    assert all(e.type == "line" and e.rule == "door" and e.track_id == 7 for e in found)
    return [str(e.details["direction"]) for e in found]


@pytest.mark.parametrize(("xs", "expected"), [
    ([50, 80, 120, 150], ["in"]),  # left to right
    ([150, 120, 80, 50], ["out"]),  # right to left
    ([50, 150, 50, 150], ["in", "out", "in"]),  # every real crossing counts
    ([50, 95, 105, 97, 103, 99, 101, 150], ["in"]),  # jitter inside the band: once
    ([50, 90, 110, 93, 107, 95, 150], ["in"]),  # jitter straddling the band's edge: once
    ([50, 100, 100, 100, 150], ["in"]),  # standing on the line, then across
    ([100, 100, 150, 160], []),  # first seen on the line: only recorded
    ([20, 40, 60, 80, 91], []),  # approaches but never leaves its side
    ([150, 120, 150, 95, 160], []),  # into the band and back out the same side
], ids=["in", "out", "back-and-forth", "jitter", "jitter-band-edge", "pause-on-line",
        "born-on-line", "approach", "touch-and-back"])
def test_crossings_by_direction(xs: list[float], expected: list[str]) -> None:
    assert _directions(xs) == expected


def test_a_crossing_beyond_the_segment_ends_does_not_count() -> None:
    assert _directions([50, 150], y=250.0) == []  # below a (y = 200)
    assert _directions([50, 150], y=-30.0) == []  # above b (y = 0)
    assert _directions([50, 150], y=199.0) == ["in"]


def test_horizontal_line_drawn_left_to_right_counts_moving_down_as_in() -> None:
    rule = LineRule(name="door", a=(0.0, 100.0), b=(200.0, 100.0))
    engine = EventEngine(camera="cam", rules=[rule], skeleton=SKELETON)
    found = [e for y in (50, 150, 50) for e in engine.update(meta(int(y)), poses({1: at(80, y)}))]
    assert [e.details["direction"] for e in found] == ["in", "out"]
    assert engine.counts() == {"door": {"in": 1, "out": 1}}


def test_event_record_and_running_counts() -> None:
    engine = EventEngine(camera="gate", rules=[LINE], skeleton=SKELETON)
    events = []
    for frame, (a, b) in enumerate([(50, 150), (150, 50), (150, 50)]):
        events += engine.update(meta(frame), poses({1: at(a, 100), 2: at(b, 100)}))
    assert [(e.track_id, e.details["direction"]) for e in events] == [(1, "in"), (2, "out")]
    record = events[1].to_json()
    assert record == {"camera": "gate", "type": "line", "rule": "door", "track_id": 2,
                      "time": pytest.approx(1_700_000_000.1), "frame": 1, "pts": 0.1,
                      "position": [50.0, 100.0], "direction": "out", "count_in": 1,
                      "count_out": 1}
    assert engine.counts() == {"door": {"in": 1, "out": 1}}


def test_untracked_people_are_ignored() -> None:
    engine = EventEngine(camera="cam", rules=[LINE], skeleton=SKELETON)
    for frame, x in enumerate([50, 150]):
        frame_poses = poses({0: at(x, 100)}).with_track_ids(np.array([-1]))
        assert engine.update(meta(frame), frame_poses) == []


@pytest.mark.parametrize(("anchor", "missing", "expected"), [
    ("hips", ("left_hip", "right_hip"), ["in"]),  # falls back to the neck
    ("hips", ("left_hip",), ["in"]),  # one hip is enough
    ("neck", ("neck",), ["in"]),  # falls back to the shoulders
    ("nose", ("nose",), []),  # a plain keypoint has no fallback
])
def test_anchor_fallbacks(anchor: str, missing: tuple[str, ...], expected: list[str]) -> None:
    rule = LineRule(name="door", a=(100.0, 400.0), b=(100.0, 0.0), anchor=anchor)
    engine = EventEngine(camera="cam", rules=[rule], skeleton=SKELETON)
    found = []
    for frame, x in enumerate([50, 150]):
        kp = keypoints(at(x, 200))
        for name in missing:
            kp[SKELETON.keypoints.index(name)] = 0
        found += engine.update(meta(frame), _one(kp))
    assert [e.details["direction"] for e in found] == expected


def _one(kp: np.ndarray):  # type: ignore[no-untyped-def]
    from streampose.pose import Poses

    return Poses(kp[None], np.ones(1, np.float32), SKELETON, track_ids=np.array([3]))


@pytest.mark.parametrize(("table", "message"), [
    ({"name": "a", "points": [0, 0, 1, 0]}, "must be longer than 2 px"),
    ({"name": "a", "points": [0, 0, 10, 0], "band": 8}, "twice the band"),
    ({"name": "a", "points": [0, 0, 0, 0]}, "0.0 px long"),
    ({"name": "a", "points": [[0, 0], [10, 10], [20, 0]]}, "exactly 2 points"),
    ({"name": "a", "points": [0, 0, 100, "x"]}, "exactly 2 points"),
    ({"name": "", "points": [0, 0, 100, 0]}, "expected a non-empty name"),
    ({"name": "a", "points": [0, 0, 100, 0], "colour": 1}, "unknown key 'colour'"),
    ({"name": "a", "points": [0, 0, 100, 0], "band": -1}, "band = -1"),
])
def test_bad_lines_are_rejected_in_one_line(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        LineRule.from_table(table)
    assert "\n" not in str(caught.value)


def test_line_points_as_pairs_or_flat() -> None:
    flat = LineRule.from_table({"name": "a", "points": [0, 0, 100, 0]})
    pairs = LineRule.from_table({"name": "a", "points": [[0, 0], [100, 0]]})
    assert flat == pairs == LineRule(name="a", a=(0.0, 0.0), b=(100.0, 0.0))
