"""COCO-17: names, limbs, colours, registry; skeletons with and without PAFs."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

import streampose.pose as pose_pkg
from streampose.errors import ModelError
from streampose.heads.paf import PafHead
from streampose.models.registry import builtin_specs
from streampose.pose import BODY25, COCO17, COCO18, SKELETONS, PafDecoder, Poses, get_skeleton
from streampose.pose.skeleton import Skeleton

COCO_NAMES = (
    "nose", "left_eye", "right_eye", "left_ear", "right_ear", "left_shoulder", "right_shoulder",
    "left_elbow", "right_elbow", "left_wrist", "right_wrist", "left_hip", "right_hip",
    "left_knee", "right_knee", "left_ankle", "right_ankle",
)
# The skeleton of COCO's person_keypoints annotations, 1-based as published.
COCO_LIMBS_1_BASED = (
    (16, 14), (14, 12), (17, 15), (15, 13), (12, 13), (6, 12), (7, 13), (6, 7), (6, 8),
    (7, 9), (8, 10), (9, 11), (2, 3), (1, 2), (1, 3), (2, 4), (3, 5), (4, 6), (5, 7),
)


def test_coco17_names_in_coco_order() -> None:
    assert COCO17.name == "coco17"
    assert COCO17.keypoints == COCO_NAMES
    assert COCO17.num_keypoints == 17


def test_coco17_limbs_are_the_coco_skeleton() -> None:
    assert {frozenset(limb) for limb in COCO17.limbs} == {
        frozenset((a - 1, b - 1)) for a, b in COCO_LIMBS_1_BASED}
    assert COCO17.num_limbs == 19 and not COCO17.redundant


def test_coco17_has_a_colour_per_limb_mirrored_sides_differ() -> None:
    assert len(COCO17.colors) >= COCO17.num_limbs
    colours = [COCO17.color(i) for i in range(COCO17.num_limbs)]
    assert len(set(colours)) == COCO17.num_limbs
    assert all(len(c) == 3 and all(0 <= v <= 255 for v in c) for c in colours)
    left = COCO17.limbs.index((5, 7))  # left shoulder - left elbow
    right = COCO17.limbs.index((6, 8))
    assert COCO17.color(left) != COCO17.color(right)


def test_coco17_is_registered_and_exported() -> None:
    assert SKELETONS["coco17"] is COCO17
    assert get_skeleton("COCO17") is COCO17
    assert pose_pkg.COCO17 is COCO17 and "COCO17" in pose_pkg.__all__
    assert list(SKELETONS) == ["coco17", "coco18", "body25"]


def test_coco17_maps_to_itself() -> None:
    assert COCO17.coco17 == tuple(range(17))


@pytest.mark.parametrize("skeleton", [COCO17, COCO18, BODY25], ids=lambda s: s.name)
def test_coco17_tables_agree_with_the_names(skeleton: Skeleton) -> None:
    expected = tuple(COCO17.index(name) for name in skeleton.keypoints)
    assert skeleton.coco17 == expected


def test_index_by_name() -> None:
    assert COCO17.index("left_shoulder") == 5
    assert COCO17.index("neck") == -1
    assert COCO18.index("neck") == 1


def test_pafs_only_where_the_layout_has_them() -> None:
    assert not COCO17.has_pafs and COCO17.paf_channels == ()
    assert COCO18.has_pafs and BODY25.has_pafs


def test_a_skeleton_without_pafs_is_accepted() -> None:
    s = Skeleton(name="pair", keypoints=("a", "b"), limbs=((0, 1),))
    assert not s.has_pafs and s.num_limbs == 1


def test_skeletons_with_pafs_keep_their_checks() -> None:
    with pytest.raises(ValueError, match="1 limbs but 2 PAF channel pairs"):
        Skeleton(name="x", keypoints=("a", "b"), limbs=((0, 1),),
                 paf_channels=((0, 1), (2, 3)))
    with pytest.raises(ValueError, match=r"permutation of 0\.\.1"):
        Skeleton(name="x", keypoints=("a", "b"), limbs=((0, 1),), paf_channels=((0, 2),))


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"keypoints": ("a", "a"), "limbs": ()}, "unique"),
    ({"keypoints": ("a", "b"), "limbs": ((0, 2),)}, r"outside 0\.\.1"),
    ({"keypoints": ("a", "b"), "limbs": (), "coco17": (0,)}, "coco17 needs 2"),
    ({"keypoints": ("a", "b"), "limbs": (), "colors": ()}, "colors"),
])
def test_bad_skeletons_are_refused(kwargs: dict, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Skeleton(name="x", **kwargs)


def test_paf_decoder_refuses_a_skeleton_without_pafs() -> None:
    with pytest.raises(ValueError, match="'coco17' has no PAF channels"):
        PafDecoder(COCO17)


def test_coco17_poses_round_trip_through_json() -> None:
    kp = np.random.default_rng(0).uniform(1, 100, (2, 17, 3)).astype(np.float32)
    kp[1, 3] = 0.0
    poses = Poses(kp, np.array([0.9, 0.5], np.float32), COCO17, np.array([4, -1]))
    obj = poses.to_json()
    assert obj["skeleton"] == "coco17"
    back = Poses.from_json(obj)
    assert back.skeleton is COCO17
    np.testing.assert_allclose(back.keypoints, kp, atol=0.006)
    assert back.track_ids.tolist() == [4, -1]


def test_paf_head_refuses_a_skeleton_without_pafs() -> None:
    spec = dataclasses.replace(builtin_specs()["openpose-mnv2s-coco18"], skeleton="coco17")
    with pytest.raises(ModelError, match="skeleton coco17 has no PAF layout"):
        PafHead(spec)
