"""Conversions between skeletons: by keypoint name, the neck from the shoulders."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.pose import BODY25, COCO17, COCO18, Poses, Skeleton, can_convert, convert
from streampose.pose.convert import conversion


def numbered(skeleton: Skeleton, people: int = 2) -> Poses:
    """Poses whose keypoint k of person p is at (100 p + k, 1000 + k), confidence 0.5 + k/100."""
    kp = np.zeros((people, skeleton.num_keypoints, 3), np.float32)
    k = np.arange(skeleton.num_keypoints, dtype=np.float32)
    for p in range(people):
        kp[p, :, 0] = 100 * p + k
        kp[p, :, 1] = 1000 + k
        kp[p, :, 2] = 0.5 + k / 100
    return Poses(kp, np.linspace(0.9, 0.5, people, dtype=np.float32), skeleton,
                 np.arange(people, dtype=np.int64) + 7)


def by_name(poses: Poses, person: int, name: str) -> np.ndarray:
    return poses.keypoints[person, poses.skeleton.index(name)]


@pytest.mark.parametrize(("source", "target"), [
    (COCO18, COCO17), (COCO17, COCO18), (BODY25, COCO17), (BODY25, COCO18)])
def test_shared_keypoints_are_copied_by_name(source: Skeleton, target: Skeleton) -> None:
    poses = numbered(source)
    out = convert(poses, target)
    assert out.skeleton is target and out.keypoints.shape == (2, target.num_keypoints, 3)
    for p in range(2):
        for name in target.keypoints:
            if source.index(name) >= 0:
                np.testing.assert_array_equal(by_name(out, p, name), by_name(poses, p, name))
    np.testing.assert_array_equal(out.scores, poses.scores)
    np.testing.assert_array_equal(out.track_ids, poses.track_ids)


def test_coco18_to_coco17_drops_the_neck() -> None:
    out = convert(numbered(COCO18), COCO17)
    assert "neck" not in out.skeleton.keypoints
    # COCO order: nose, left eye ... from COCO-18 indices 0, 15, 14, 17, 16, 5, 2 ...
    expected = [0, 15, 14, 17, 16, 5, 2, 6, 3, 7, 4, 11, 8, 12, 9, 13, 10]
    np.testing.assert_array_equal(out.keypoints[0, :, 0], expected)


def test_coco17_to_coco18_neck_is_the_shoulders_midpoint() -> None:
    kp = np.zeros((1, 17, 3), np.float32)
    kp[0, 5] = (100, 50, 0.8)  # left shoulder
    kp[0, 6] = (60, 54, 0.6)  # right shoulder
    out = convert(Poses(kp, np.ones(1, np.float32), COCO17), COCO18)
    np.testing.assert_allclose(by_name(out, 0, "neck"), (80, 52, 0.6))
    np.testing.assert_allclose(by_name(out, 0, "left_shoulder"), (100, 50, 0.8))
    np.testing.assert_allclose(by_name(out, 0, "right_shoulder"), (60, 54, 0.6))
    others = [i for i, n in enumerate(COCO18.keypoints)
              if n not in ("neck", "left_shoulder", "right_shoulder")]
    assert (out.keypoints[0, others] == 0).all()


@pytest.mark.parametrize("gone", ["left_shoulder", "right_shoulder"])
def test_coco17_to_coco18_no_neck_without_both_shoulders(gone: str) -> None:
    poses = numbered(COCO17)
    kp = poses.keypoints.copy()
    kp[1, COCO17.index(gone)] = 0.0
    out = convert(Poses(kp, poses.scores, COCO17), COCO18)
    assert by_name(out, 0, "neck")[2] > 0
    np.testing.assert_array_equal(by_name(out, 1, "neck"), (0, 0, 0))


def test_round_trip_coco17_coco18_coco17_is_exact() -> None:
    poses = numbered(COCO17)
    back = convert(convert(poses, COCO18), COCO17)
    np.testing.assert_array_equal(back.keypoints, poses.keypoints)


def test_body25_to_coco18_keeps_the_detected_neck() -> None:
    poses = numbered(BODY25)
    out = convert(poses, COCO18)
    np.testing.assert_array_equal(by_name(out, 1, "neck"), by_name(poses, 1, "neck"))


def test_missing_keypoints_stay_missing() -> None:
    poses = numbered(COCO18)
    kp = poses.keypoints.copy()
    kp[0, COCO18.index("left_ear")] = 0.0
    out = convert(Poses(kp, poses.scores, COCO18), COCO17)
    np.testing.assert_array_equal(by_name(out, 0, "left_ear"), (0, 0, 0))


def test_same_skeleton_is_returned_as_is() -> None:
    poses = numbered(COCO17)
    assert convert(poses, COCO17) is poses


def test_empty_poses_convert() -> None:
    out = convert(Poses.empty(COCO17), COCO18)
    assert len(out) == 0 and out.skeleton is COCO18


@pytest.mark.parametrize("source", [COCO17, COCO18], ids=lambda s: s.name)
def test_no_feet_no_body25(source: Skeleton) -> None:
    assert not can_convert(source, BODY25)
    with pytest.raises(ValueError, match=f"from skeleton '{source.name}' to 'body25'") as info:
        convert(numbered(source), BODY25)
    assert "left_big_toe" in str(info.value) and "coco17, coco18" in str(info.value)


def test_known_conversions() -> None:
    known = {(a.name, b.name) for a in (COCO17, COCO18, BODY25)
             for b in (COCO17, COCO18, BODY25) if can_convert(a, b)}
    assert known == {("coco17", "coco17"), ("coco17", "coco18"), ("coco18", "coco17"),
                     ("coco18", "coco18"), ("body25", "coco17"), ("body25", "coco18"),
                     ("body25", "body25")}


def test_mid_hip_is_derived_like_the_neck() -> None:
    hips = Skeleton(name="hips", keypoints=("left_hip", "right_hip"), limbs=((0, 1),))
    middle = Skeleton(name="middle", keypoints=("mid_hip",), limbs=())
    kp = np.array([[[10, 20, 0.9], [30, 40, 0.7]]], np.float32)
    out = convert(Poses(kp, np.ones(1, np.float32), hips), middle)
    np.testing.assert_allclose(out.keypoints[0, 0], (20, 30, 0.7))


def test_unrelated_skeletons_name_both() -> None:
    other = Skeleton(name="paw", keypoints=("claw",), limbs=())
    with pytest.raises(ValueError, match="'coco17' to 'paw': coco17 cannot give claw"):
        conversion(COCO17, other)
