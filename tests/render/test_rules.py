"""The rules annotator: lines with their 'in' arrow and counts, zones with occupancy."""

from __future__ import annotations

import numpy as np

from streampose.events import EventEngine, LineRule, ZoneRule
from streampose.render.rules import ANCHOR_COLOR, LINE_COLOR, ZONE_COLOR, RulesAnnotator
from tests.events.people import SKELETON, at, meta, poses


def _has(scene: np.ndarray, color: tuple[int, int, int], region: tuple[slice, slice]) -> bool:
    return bool((scene[region] == np.array(color, np.uint8)).all(axis=-1).any())


def test_lines_zones_and_followed_points_are_drawn_where_they_are() -> None:
    line = LineRule(name="door", a=(50.0, 150.0), b=(50.0, 20.0))
    zone = ZoneRule(name="desk", polygon=((120.0, 40.0), (180.0, 40.0), (180.0, 100.0)))
    engine = EventEngine(camera="c", rules=[line, zone], skeleton=SKELETON)
    frame_poses = poses({1: at(90, 120)})
    engine.update(meta(0), frame_poses)
    scene = np.zeros((160, 200, 3), np.uint8)
    RulesAnnotator(engine).annotate(scene, frame_poses)
    assert _has(scene, LINE_COLOR, (slice(60, 110), slice(48, 53)))  # the line itself
    assert _has(scene, LINE_COLOR, (slice(80, 90), slice(56, 80)))  # arrow to the right
    assert not _has(scene, LINE_COLOR, (slice(80, 90), slice(20, 45)))  # nothing left
    assert _has(scene, ZONE_COLOR, (slice(38, 43), slice(130, 170)))  # the zone's top edge
    assert _has(scene, ANCHOR_COLOR, (slice(117, 124), slice(87, 94)))  # the hip point


def test_nothing_drawn_without_rules() -> None:
    scene = np.zeros((50, 50, 3), np.uint8)
    engine = EventEngine(camera="c", rules=[], skeleton=SKELETON)
    RulesAnnotator(engine).annotate(scene, poses({1: at(20, 20)}))
    assert not scene.any()


def test_on_a_frame_decode_scaled_down_the_rules_are_drawn_where_they_are_in_it() -> None:
    """Rules are in the source picture's pixels (here 400x320); the frame is half its
    size, its poses in the frame's pixels."""
    line = LineRule(name="door", a=(100.0, 300.0), b=(100.0, 40.0))
    zone = ZoneRule(name="desk", polygon=((240.0, 80.0), (360.0, 80.0), (360.0, 200.0)))
    engine = EventEngine(camera="c", rules=[line, zone], skeleton=SKELETON)
    scene = np.zeros((160, 200, 3), np.uint8)
    RulesAnnotator(engine).annotate(scene, poses({1: at(90, 120)}), source_scale=(2.0, 2.0))
    assert _has(scene, LINE_COLOR, (slice(60, 110), slice(48, 53)))  # x 100 -> 49.75
    assert not _has(scene, LINE_COLOR, (slice(60, 110), slice(95, 105)))  # not at x 100
    assert _has(scene, ZONE_COLOR, (slice(38, 43), slice(130, 170)))  # y 80 -> 39.75
    assert _has(scene, ANCHOR_COLOR, (slice(117, 124), slice(87, 94)))  # frame pixels
