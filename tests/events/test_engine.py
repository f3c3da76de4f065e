"""The engine: rules per camera, forgetting ended tracks, bounded state, event records."""

from __future__ import annotations

import pytest

from streampose.errors import ConfigError
from streampose.events import EventEngine, FallRule, LineRule, ZoneRule
from tests.events.people import SKELETON, at, meta, poses

LINE = LineRule(name="door", a=(100.0, 200.0), b=(100.0, 0.0))
ZONE = ZoneRule(name="desk", polygon=((0.0, 0.0), (100.0, 0.0), (100.0, 100.0), (0.0, 100.0)))


def test_rules_for_another_camera_are_left_out() -> None:
    rules = [LINE, LineRule(name="gate", a=(0.0, 0.0), b=(50.0, 0.0), camera="yard")]
    assert [d.rule for d in EventEngine(camera="hall", rules=rules,
                                        skeleton=SKELETON).detectors] == ["door"]
    assert [d.rule for d in EventEngine(camera="yard", rules=rules,
                                        skeleton=SKELETON).detectors] == ["door", "gate"]


def test_two_rules_of_a_kind_with_one_name_are_refused() -> None:
    with pytest.raises(ConfigError, match="share a name"):
        EventEngine(camera="c", rules=[LINE, LINE], skeleton=SKELETON)


def test_an_anchor_the_skeleton_lacks_is_refused() -> None:
    rule = LineRule(name="door", a=(0.0, 0.0), b=(50.0, 0.0), anchor="tail")
    with pytest.raises(ConfigError, match="anchor 'tail': not one of hips"):
        EventEngine(camera="c", rules=[rule], skeleton=SKELETON)


def test_all_rules_see_every_person_and_events_carry_the_frame() -> None:
    engine = EventEngine(camera="c", rules=[LINE, ZONE, FallRule()], skeleton=SKELETON)
    events = engine.update(meta(0), poses({1: at(50, 50)}))
    events += engine.update(meta(1), poses({1: at(150, 50)}))
    assert [(e.type, e.rule, e.frame) for e in events] == [
        ("enter", "desk", 0), ("line", "door", 1), ("leave", "desk", 1)]
    assert engine.total == 3


def test_state_stays_bounded_on_an_endless_stream_of_short_tracks() -> None:
    engine = EventEngine(camera="c", rules=[LINE, ZONE, FallRule()], skeleton=SKELETON,
                         forget_after=5)
    for frame in range(400):
        ids = range(frame // 4, frame // 4 + 3)  # three people; a new id every 4 frames
        engine.update(meta(frame), poses({i: at(50 + (frame % 97), 50) for i in ids}))
        assert engine.num_tracks <= 3 + 2
        assert all(d.tracks <= 3 + 2 for d in engine.detectors)


def test_max_tracks_caps_the_state_even_when_tracks_do_not_end() -> None:
    engine = EventEngine(camera="c", rules=[ZONE], skeleton=SKELETON, max_tracks=10)
    for frame in range(5):
        engine.update(meta(frame), poses({i: at(i % 200, 50) for i in range(frame * 30,
                                                                            frame * 30 + 30)}))
        assert engine.num_tracks <= 10 and engine.detectors[0].tracks <= 10


def test_forgotten_tracks_free_their_zone_place() -> None:
    engine = EventEngine(camera="c", rules=[ZONE], skeleton=SKELETON, forget_after=2)
    engine.update(meta(0), poses({1: at(50, 50), 2: at(60, 60)}))
    assert engine.occupancy() == {"desk": 2}
    found = []
    for frame in range(1, 5):
        found += engine.update(meta(frame), poses({2: at(60, 60)}))
    assert [(e.type, e.track_id, e.frame, e.details.get("lost")) for e in found] == [
        ("leave", 1, 3, True)]
    assert engine.occupancy() == {"desk": 1} and engine.num_tracks == 1


def test_fragments_with_few_keypoints_are_ignored() -> None:
    from tests.events.people import keypoints

    engine = EventEngine(camera="c", rules=[LINE], skeleton=SKELETON, min_keypoints=5)
    found = []
    for frame, x in enumerate([50, 150]):
        frame_poses = poses({1: at(x, 100), 2: at(x, 60)})
        kp = frame_poses.keypoints.copy()
        fragment = keypoints(at(x, 60))
        fragment[[i for i, n in enumerate(SKELETON.keypoints)
                  if n not in ("nose", "left_shoulder", "right_shoulder", "neck")]] = 0
        kp[1] = fragment  # track 2: head, neck and shoulders only (4 keypoints)
        found += engine.update(meta(frame), frame_poses.__class__(
            kp, frame_poses.scores, SKELETON, track_ids=frame_poses.track_ids))
    assert [(e.track_id, e.details["direction"]) for e in found] == [(1, "in")]
