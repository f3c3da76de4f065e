"""Zones on synthetic tracks: enter, leave, dwell timed by pts, tracks that vanish inside,
jitter on the edge, occupancy."""

from __future__ import annotations

import pytest

from streampose.errors import ConfigError
from streampose.events import Event, EventEngine, ZoneRule
from tests.events.people import SKELETON, at, meta, poses

SQUARE = ((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0))
ZONE = ZoneRule(name="desk", polygon=SQUARE, dwell_s=2.0, band=4.0)


def _run(xs: list[float | None], *, fps: float = 10.0, forget_after: int = 3,
         rule: ZoneRule = ZONE) -> tuple[list[Event], EventEngine]:
    """Track 5 at (x, 50) per frame; None: not seen in that frame."""
    engine = EventEngine(camera="cam", rules=[rule], skeleton=SKELETON,
                         forget_after=forget_after)
    found = []
    for frame, x in enumerate(xs):
        people = {} if x is None else {5: at(x, 50)}
        found += engine.update(meta(frame, fps), poses(people))
    return found, engine


def _types(events: list[Event]) -> list[str]:
    return [e.type for e in events]


@pytest.mark.parametrize(("xs", "expected"), [
    ([-50, 50, 150], ["enter", "leave"]),
    ([150, 50, -50, 50], ["enter", "leave", "enter"]),
    ([50], ["enter"]),  # first seen inside
    ([-50, -20, 150, 200], []),  # never inside
    ([-50, 2, -2, 3, -3, 1, 50, 98, 103, 97, 150], ["enter", "leave"]),  # edge jitter
    ([-50, 50, None, None, None, None, None], ["enter", "leave"]),  # vanished inside
    ([-50, 50, None, None, 50, 150], ["enter", "leave"]),  # a short gap is no leave
], ids=["through", "in-out-in", "born-inside", "outside", "edge-jitter", "vanished",
        "gap"])
def test_enter_and_leave(xs: list[float | None], expected: list[str]) -> None:
    assert _types(_run(xs)[0]) == expected


def test_a_track_that_vanishes_inside_leaves_when_forgotten_and_frees_its_place() -> None:
    events, engine = _run([-50, 50, 60, None, None, None, None, None], forget_after=3)
    leave = events[-1]
    assert (leave.type, leave.frame) == ("leave", 6)  # last seen at 2, forgotten after 3
    assert leave.details == {"occupancy": 0, "lost": True, "dwell_s": 0.1}
    assert leave.position == pytest.approx((60.0, 50.0))  # where it was last seen
    assert engine.occupancy() == {"desk": 0} and engine.num_tracks == 0


@pytest.mark.parametrize("fps", [10.0, 25.0, 7.5])
def test_dwell_fires_once_after_dwell_s_of_pts(fps: float) -> None:
    frames = round(5 * fps)
    events, _ = _run([-50.0] + [50.0] * frames + [150.0], fps=fps)
    assert _types(events) == ["enter", "dwell", "leave"]
    enter, dwell, leave = events
    assert dwell.pts - enter.pts == pytest.approx(2.0, abs=0.5 / fps)  # first frame >= 2 s
    assert dwell.pts - enter.pts >= 2.0 - 1e-9
    assert dwell.details["dwell_s"] == pytest.approx(dwell.pts - enter.pts, abs=1e-3)
    assert leave.details["dwell_s"] == pytest.approx(frames / fps, abs=1e-3)


def test_no_dwell_before_dwell_s_nor_without_it() -> None:
    assert _types(_run([-50.0] + [50.0] * 19 + [150.0])[0]) == ["enter", "leave"]  # 1.9 s
    plain = ZoneRule(name="desk", polygon=SQUARE)
    assert _types(_run([-50.0] + [50.0] * 60 + [150.0], rule=plain)[0]) == ["enter", "leave"]


def test_occupancy_counts_people_inside() -> None:
    engine = EventEngine(camera="cam", rules=[ZONE], skeleton=SKELETON)
    steps = [{1: at(-50, 50), 2: at(-50, 60)}, {1: at(50, 50), 2: at(-50, 60)},
             {1: at(50, 50), 2: at(40, 60)}, {1: at(150, 50), 2: at(40, 60)}]
    found = [e for frame, people in enumerate(steps)
             for e in engine.update(meta(frame), poses(people))]
    assert [(e.type, e.track_id, e.details["occupancy"]) for e in found] == [
        ("enter", 1, 1), ("enter", 2, 2), ("leave", 1, 1)]
    assert engine.occupancy() == {"desk": 1}


@pytest.mark.parametrize(("table", "message"), [
    ({"name": "z", "points": [0, 0, 10, 10, 20, 20]}, "has no area"),
    ({"name": "z", "points": [0, 0, 10, 0, 10, 0]}, "has no area"),
    ({"name": "z", "points": [0, 0, 10, 0]}, "at least 3 points"),
    ({"name": "z", "points": [0, 0, 10, 10, 10, 0, 0, 10]}, "edges cross"),
    ({"name": "z", "points": [0, 0, 10, 0, 0, 10], "dwell_s": 0}, "dwell_s = 0"),
    ({"name": "z", "points": [0, 0, 10, 0, 0, 10], "dwel_s": 3}, "unknown key 'dwel_s'"),
    ({"points": [0, 0, 10, 0, 0, 10]}, "name = None"),
])
def test_bad_zones_are_rejected_in_one_line(table: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        ZoneRule.from_table(table)
    assert "\n" not in str(caught.value)
