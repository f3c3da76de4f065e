"""Poses carried onto frames the network did not run on: optical flow, decay, drops."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streampose.pose import COCO18, Poses
from streampose.pose.carry import CARRY_DECAY, PoseCarry, carry_poses, flow_points

W, H = 160, 120


def textured(x: int, y: int, *, seed: int = 0) -> np.ndarray:
    """A flat grey frame with a 32x32 random-textured square whose corner is (x, y)."""
    frame = np.full((H, W), 90, np.uint8)
    rng = np.random.default_rng(seed)
    frame[y:y + 32, x:x + 32] = rng.integers(0, 255, (32, 32), dtype=np.uint8)
    return frame


def person(points: list[tuple[float, float]], confidence: float = 0.8,
           boxes: bool = False) -> Poses:
    kp = np.zeros((1, COCO18.num_keypoints, 3), np.float32)
    for k, (x, y) in enumerate(points):
        kp[0, k] = (x, y, confidence)
    box = np.array([[30, 30, 70, 70]], np.float32) if boxes else None
    return Poses(kp, np.array([0.9], np.float32), COCO18, np.array([7]), box)


def test_keypoints_on_a_moving_textured_square_follow_it() -> None:
    before, now = textured(40, 40), textured(46, 43)  # moved by (6, 3)
    carried = carry_poses(person([(50, 50), (60, 55), (45, 65)]), before, now)
    kp = carried.keypoints[0, :3]
    assert np.allclose(kp[:, :2], [(56, 53), (66, 58), (51, 68)], atol=0.5)
    assert np.allclose(kp[:, 2], 0.8 * CARRY_DECAY)
    assert carried.track_ids.tolist() == [7]
    assert carried.inferred is not None and carried.inferred.tolist() == [False]


def test_a_keypoint_whose_flow_fails_is_dropped() -> None:
    before, now = textured(40, 40), textured(46, 43)
    carried = carry_poses(person([(50, 50), (130, 100)]), before, now)  # (130, 100): flat grey
    assert carried.keypoints[0, 0, 2] > 0
    assert carried.keypoints[0, 1].tolist() == [0.0, 0.0, 0.0]


def test_a_person_with_no_keypoint_left_is_dropped() -> None:
    before, now = textured(40, 40), textured(46, 43)
    assert len(carry_poses(person([(130, 100), (10, 10)]), before, now)) == 0


def test_confidence_decays_once_per_carried_frame() -> None:
    frames = [textured(40 + 2 * i, 40) for i in range(4)]
    poses = person([(50, 50)], confidence=0.5)
    for before, now in itertools.pairwise(frames):
        poses = carry_poses(poses, before, now)
    assert poses.keypoints[0, 0, 2] == pytest.approx(0.5 * CARRY_DECAY ** 3)
    assert poses.scores[0] == pytest.approx(0.9 * CARRY_DECAY ** 3)
    assert poses.keypoints[0, 0, 0] == pytest.approx(56, abs=0.5)


def test_without_a_frame_before_the_keypoints_stay_decayed() -> None:
    carried = carry_poses(person([(50, 50)]), None, textured(46, 43), decay=0.5)
    assert carried.keypoints[0, 0].tolist() == pytest.approx([50, 50, 0.4])


def test_a_person_box_moves_with_its_keypoints() -> None:
    before, now = textured(40, 40), textured(46, 43)
    carried = carry_poses(person([(50, 50), (60, 60)], boxes=True), before, now)
    assert carried.boxes is not None
    assert np.allclose(carried.boxes, [[36, 33, 76, 73]], atol=0.5)


def test_no_points_no_flow() -> None:
    moved, followed = flow_points(textured(0, 0), textured(0, 0), np.zeros((0, 2)))
    assert moved.shape == (0, 2) and followed.shape == (0,)


def test_a_stream_s_carry_keeps_the_last_frame_and_its_poses() -> None:
    carry = PoseCarry()
    first = carry.grey(np.dstack([textured(40, 40)] * 3))
    assert len(carry.carried(first, COCO18)) == 0  # nobody before the first frame
    carry.keep(first, person([(50, 50)]))
    now = carry.grey(np.dstack([textured(46, 43)] * 3))
    carried = carry.carried(now, COCO18)
    assert carried.keypoints[0, 0, :2].tolist() == pytest.approx([56, 53], abs=0.5)


def test_carried_people_say_so_in_json_and_inferred_ones_say_nothing() -> None:
    poses = person([(50, 50)])
    assert "inferred" not in poses.to_json()["persons"][0]
    carried = carry_poses(poses, None, textured(0, 0))
    record = carried.to_json()
    assert record["persons"][0]["inferred"] is False
    assert Poses.from_json(record).inferred.tolist() == [False]
