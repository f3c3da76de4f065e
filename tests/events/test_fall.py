"""The fall heuristic on synthetic tracks: a fall fires once; look-alikes do not fire.

Each scenario is keyframes ``(time_s, Body)`` interpolated at 10 fps (tests/events/
people.py). The person stands with the hip midpoint at (200, 300), 200 px tall (feet at
about y 400); on the floor the hip midpoint is at y 385.
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from streampose.errors import ConfigError
from streampose.events import Event, EventEngine, FallRule
from tests.events.people import SKELETON, Body, interpolate, meta, poses

STAND = Body(hip=(200.0, 300.0))
FLOOR = Body(hip=(230.0, 385.0), torso=90.0, thigh=270.0, shin=270.0)  # lying, head right
LEFT_FLOOR = Body(hip=(160.0, 385.0), torso=-90.0, thigh=90.0, shin=90.0)  # head left
SIT = Body(hip=(200.0, 360.0), torso=8.0, thigh=90.0, shin=180.0)  # on a low seat
BEND = Body(hip=(190.0, 308.0), torso=85.0)  # picking something up, legs straight
KNEEL = Body(hip=(200.0, 350.0), torso=10.0, thigh=160.0, shin=270.0)
CROUCH = Body(hip=(200.0, 360.0), torso=40.0, thigh=60.0, shin=200.0)

SCENARIOS: dict[str, tuple[list[tuple[float, Body]], int]] = {
    # name: (keyframes, falls expected)
    "fall, lies still": ([(0, STAND), (2, STAND), (2.7, FLOOR), (8, FLOOR)], 1),
    "fall, lies still 10 s (fires once)": ([(0, STAND), (2, STAND), (2.6, FLOOR),
                                            (13, FLOOR)], 1),
    "fall to the left, slower": ([(0, STAND), (2, STAND), (3.2, LEFT_FLOOR), (7, LEFT_FLOOR)],
                                 1),
    "two falls, up in between": ([(0, STAND), (2, STAND), (2.6, FLOOR), (6, FLOOR),
                                  (8, STAND), (10, STAND), (10.6, FLOOR), (14, FLOOR)], 2),
    "fall, gets straight up": ([(0, STAND), (2, STAND), (2.6, FLOOR), (3.5, FLOOR),
                                (5, STAND), (8, STAND)], 0),
    "fall, keeps struggling": ([(0, STAND), (2, STAND), (2.6, FLOOR)]
                               + [(3 + i, replace(FLOOR, hip=(230.0 + 60 * (i % 2), 385.0)))
                                  for i in range(6)], 0),
    "bending to pick up": ([(0, STAND), (2, STAND), (3, BEND), (7, BEND), (8, STAND)], 0),
    "sitting down": ([(0, STAND), (2, STAND), (3, SIT), (9, SIT), (10, STAND)], 0),
    "sitting down fast": ([(0, STAND), (2, STAND), (2.3, SIT), (9, SIT)], 0),
    "kneeling": ([(0, STAND), (2, STAND), (2.5, KNEEL), (8, KNEEL)], 0),
    "crouching": ([(0, STAND), (2, STAND), (2.5, CROUCH), (8, CROUCH)], 0),
    "lying down deliberately (3 s)": ([(0, STAND), (2, STAND), (5, FLOOR), (10, FLOOR)], 0),
    "lying down slowly": ([(0, STAND), (2, STAND), (4, SIT), (7, FLOOR), (12, FLOOR)], 0),
    "walking": ([(0, STAND), (10, replace(STAND, hip=(400.0, 300.0)))], 0),
    "already on the floor": ([(0, FLOOR), (8, FLOOR)], 0),
}


def _falls(keyframes: list[tuple[float, Body]], rule: FallRule | None = None) -> list[Event]:
    engine = EventEngine(camera="cam", rules=[rule or FallRule()], skeleton=SKELETON)
    events = []
    for frame, body in enumerate(interpolate(keyframes)):
        events += engine.update(meta(frame), poses({4: body}))
    return events


@pytest.mark.parametrize("name", list(SCENARIOS))
def test_scenarios(name: str) -> None:
    keyframes, expected = SCENARIOS[name]
    events = _falls(keyframes)
    assert all(e.type == "fall" and e.rule == "fall" and e.track_id == 4 for e in events)
    assert len(events) == expected, [e.to_json() for e in events]


def test_the_fall_fires_after_lying_still_for_still_s() -> None:
    (event,) = _falls(SCENARIOS["fall, lies still"][0])
    # first lying frame: once the torso passes lying_deg on the way down (~2.5 s);
    # then still_s = 2 s of lying still
    assert 4.3 <= event.pts <= 5.0
    assert event.details["still_s"] >= 2.0
    assert event.details["drop"] >= 0.25 and event.details["angle_deg"] >= 55
    assert event.position[1] > 370  # the hips, on the floor


def test_thresholds_are_options() -> None:
    keyframes = SCENARIOS["fall, lies still"][0]
    assert _falls(keyframes, FallRule(still_s=10.0)) == []  # not still long enough
    assert _falls(keyframes, FallRule(min_drop=0.9)) == []  # drop too small for it
    slow = SCENARIOS["lying down slowly"][0]
    assert len(_falls(slow, FallRule(fall_s=6.0, min_speed=0.05))) == 1


def test_fall_state_is_one_record_per_live_track() -> None:
    engine = EventEngine(camera="cam", rules=[FallRule()], skeleton=SKELETON, forget_after=2)
    for frame in range(200):
        engine.update(meta(frame), poses({frame // 5: STAND}))  # a new id every 5 frames
        assert engine.num_tracks <= 2
        assert engine.detectors[0].tracks <= 2


@pytest.mark.parametrize(("table", "message"), [
    ({"still": 3}, "unknown key 'still'"),
    ({"still_s": -1}, "still_s = -1"),
    ({"lying_deg": 30, "upright_deg": 40}, "must be above upright_deg"),
    ({"min_drop": "big"}, "min_drop = 'big'"),
])
def test_bad_thresholds_are_rejected_in_one_line(table: dict[str, object],
                                                 message: str) -> None:
    with pytest.raises(ConfigError, match=message) as caught:
        FallRule.from_table(table)
    assert "\n" not in str(caught.value)
