"""PafDecoder on synthetic ground truth, bad input, and the Poses type."""

from __future__ import annotations

import json

import numpy as np
import pytest

from streampose.backends.fake_people import crowd, render_maps, standing_person
from streampose.pose import BODY25, COCO18, PafDecoder, Poses, get_skeleton

SHAPE = (46, 82)


def _crossing_arms() -> list[np.ndarray]:
    left = standing_person(x=24.3, top=8.2, height=30)
    right = standing_person(x=44.6, top=9.1, height=30)
    left[7, :2] = (38.0, 17.0)   # left wrist reaches into the right person's space
    left[6, :2] = (31.0, 16.0)
    right[4, :2] = (28.0, 20.5)  # right wrist reaches back across it
    right[3, :2] = (36.0, 19.0)
    return [left, right]


SCENES = {
    "one person": [standing_person(x=40.3, top=5.6, height=34)],
    "three apart": [standing_person(x=x, top=6.2, height=30) for x in (12.4, 41.1, 69.8)],
    "overlapping": [standing_person(x=30.2, top=4.3, height=34),
                    standing_person(x=38.7, top=9.4, height=30)],
    "crossing limbs": _crossing_arms(),
    "partial (no legs)": [standing_person(x=40.0, top=6.0, height=34,
                                          missing=(9, 10, 12, 13))],
    "at the border": [standing_person(x=2.1, top=10.0, height=30),
                      standing_person(x=80.4, top=20.0, height=30)],
    "tiny": [standing_person(x=20.5, top=10.3, height=12), standing_person(x=60, top=5, height=34)],
    "crowd of 12": crowd(12, shape=SHAPE, height=14, seed=3),
}


def _visible_truth(person: np.ndarray) -> np.ndarray:
    h, w = SHAPE
    inside = (person[:, 0] >= 0) & (person[:, 0] <= w - 1) & (person[:, 1] >= 0)
    inside &= person[:, 1] <= h - 1
    return inside & (person[:, 2] > 0)


def _match(truth: np.ndarray, found: Poses) -> int:
    visible = _visible_truth(truth)
    err = np.abs(found.keypoints[:, visible, :2] - truth[None, visible, :2]).max(axis=(1, 2))
    return int(np.argmin(err))


@pytest.mark.parametrize("scene", list(SCENES))
def test_recovers_every_person_and_keypoint(scene: str) -> None:
    truth = SCENES[scene]
    heat, pafs = render_maps(truth, shape=SHAPE)
    poses = PafDecoder(COCO18)(heat, pafs)
    assert len(poses) == len(truth), f"{scene}: {len(poses)} people for {len(truth)}"
    matched = set()
    for person in truth:
        i = _match(person, poses)
        matched.add(i)
        visible = _visible_truth(person)
        found = poses.keypoints[i]
        assert np.all(found[visible, 2] > 0), f"{scene}: a keypoint was missed"
        assert np.all(found[~visible, 2] == 0), f"{scene}: a phantom keypoint appeared"
        err = np.abs(found[visible, :2] - person[visible, :2])
        assert err.max() <= 0.5, f"{scene}: keypoint off by {err.max():.2f} map pixels"
        assert err.mean() <= 0.1, f"{scene}: sub-pixel error {err.mean():.3f} map pixels"
    assert len(matched) == len(truth), f"{scene}: two people decoded as one"


def test_missing_keypoints_are_zero_and_scores_ordered_by_completeness() -> None:
    full = standing_person(x=20, top=5, height=34)
    half = standing_person(x=60, top=5, height=34, missing=(8, 9, 10, 11, 12, 13))
    poses = PafDecoder(COCO18)(*render_maps([full, half], shape=SHAPE))
    order = np.argsort(poses.keypoints[:, 0, 0])
    assert poses.scores[order[0]] > poses.scores[order[1]]
    assert np.all(poses.keypoints[order[1], 8:14] == 0)


@pytest.mark.parametrize(
    ("heatmaps", "pafs", "message"),
    [
        (np.zeros((17, 10, 10), np.float32), np.zeros((38, 10, 10), np.float32), "heatmaps"),
        (np.zeros((19, 10, 10), np.float32), np.zeros((36, 10, 10), np.float32), "pafs"),
        (np.zeros((19, 10, 10), np.float32), np.zeros((38, 10, 12), np.float32), "spatial"),
        (np.zeros((19, 10, 10), np.int32), np.zeros((38, 10, 10), np.float32), "dtype"),
        (np.zeros((19, 100), np.float32), np.zeros((38, 10, 10), np.float32), "heatmaps"),
        ([[0.0]], np.zeros((38, 10, 10), np.float32), "numpy"),
    ],
)
def test_bad_input_raises_value_error_naming_the_argument(heatmaps, pafs, message) -> None:
    with pytest.raises(ValueError, match=message):
        PafDecoder(COCO18)(heatmaps, pafs)


@pytest.mark.parametrize("channels", [18, 19])
def test_empty_maps_give_no_people(channels: int) -> None:
    poses = PafDecoder(COCO18)(np.zeros((channels, 20, 30), np.float32),
                               np.zeros((38, 20, 30), np.float32))
    assert len(poses) == 0 and poses.keypoints.shape == (0, 18, 3)


def test_nans_do_not_crash_and_finite_people_survive() -> None:
    heat, pafs = render_maps([standing_person(x=40, top=5, height=34)], shape=SHAPE)
    heat[3, :5, :5] = np.nan
    pafs[0, 40:, 70:] = np.inf
    poses = PafDecoder(COCO18)(heat, pafs)
    assert len(poses) == 1 and np.isfinite(poses.keypoints).all()


@pytest.mark.parametrize(("kwargs", "name"), [
    ({"peak_threshold": 0.0}, "peak_threshold"), ({"paf_samples": 1}, "paf_samples"),
    ({"min_fraction": 1.5}, "min_fraction"), ({"nms_radius": 0}, "nms_radius"),
    ({"bogus": 1}, "bogus"),
])
def test_bad_thresholds_name_the_argument(kwargs: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        PafDecoder(COCO18, **kwargs)


def test_body25_decodes_its_own_layout() -> None:
    person = np.zeros((25, 3), np.float32)
    coco = standing_person(x=40, top=5, height=34)
    for i in range(18):
        j = BODY25.keypoints.index(COCO18.keypoints[i])
        person[j] = coco[i]
    person[8] = (coco[8] + coco[11]) / 2  # mid hip
    feet = {19: (1.5, 0), 20: (2.5, 0), 21: (-0.5, 0), 22: (-1.5, 0), 23: (-2.5, 0), 24: (0.5, 0)}
    for k, (dx, _) in feet.items():
        ankle = coco[13] if k < 22 else coco[10]
        person[k] = (ankle[0] + dx, min(ankle[1] + 1.0, SHAPE[0] - 1), 1)
    poses = PafDecoder(BODY25)(*render_maps([person], shape=SHAPE, skeleton=BODY25))
    assert len(poses) == 1
    assert np.abs(poses.keypoints[0, :, :2] - person[:, :2]).max() <= 0.5


def test_poses_validates_shapes() -> None:
    with pytest.raises(ValueError, match="keypoints"):
        Poses(np.zeros((2, 17, 3), np.float32), np.zeros(2, np.float32), COCO18)
    with pytest.raises(ValueError, match="scores"):
        Poses(np.zeros((2, 18, 3), np.float32), np.zeros(3, np.float32), COCO18)
    with pytest.raises(ValueError, match="track_ids"):
        Poses(np.zeros((1, 18, 3), np.float32), np.zeros(1), COCO18, np.zeros(2))


def test_poses_without_track_ids_are_untracked() -> None:
    two = Poses(np.zeros((2, 18, 3), np.float32), np.zeros(2, np.float32), COCO18)
    assert two.track_ids.dtype == np.int64 and two.track_ids.tolist() == [-1, -1]
    one = Poses(np.zeros((1, 18, 3), np.float32), np.zeros(1, np.float32), COCO18)
    assert one.track_ids.tolist() == [-1] and one.track_ids is not two.track_ids
    assert Poses.empty(COCO18).track_ids.shape == (0,)


def test_poses_json_round_trip_and_transform() -> None:
    kp = np.zeros((2, 18, 3), np.float32)
    kp[0, 1] = (10.0, 20.0, 0.9)
    kp[1, 0] = (5.0, 6.0, 0.5)
    poses = Poses(kp, np.array([0.8, 0.4], np.float32), COCO18, np.array([3, -1]))
    back = Poses.from_json(json.loads(json.dumps(poses.to_json())))
    assert np.allclose(back.keypoints, kp) and back.track_ids.tolist() == [3, -1]
    moved = poses.transformed(scale=(2.0, 4.0), offset=(1.0, -1.0))
    assert moved.keypoints[0, 1].tolist() == pytest.approx([21.0, 79.0, 0.9])
    assert moved.keypoints[0, 0].tolist() == [0.0, 0.0, 0.0]  # missing stays missing
    assert len(Poses.from_json({"skeleton": "coco18", "persons": []})) == 0


def test_skeleton_registry() -> None:
    assert get_skeleton("COCO18") is COCO18 and COCO18.num_limbs == 19
    assert BODY25.num_keypoints == 25 and BODY25.num_limbs == 26
    with pytest.raises(ValueError, match="unknown skeleton"):
        get_skeleton("mpii")
