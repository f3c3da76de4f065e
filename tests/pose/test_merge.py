"""Merging crops' poses: mapping back to frame pixels, box NMS and OKS across seams."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.pose.crops import Crop, plan_tiles
from streampose.pose.merge import (
    DEFAULT_SIGMA,
    concat_poses,
    crop_to_frame,
    keypoint_sigmas,
    merge_by_boxes,
    merge_by_oks,
    merge_crops,
    oks,
)
from streampose.pose.poses import Poses
from streampose.pose.skeleton import COCO17, COCO18

FRAME_W, FRAME_H = 400, 300
# Two tiles side by side: [0, 240) and [160, 400), overlapping on x in [160, 240).
TILES = plan_tiles(FRAME_W, FRAME_H, tile_w=240, tile_h=300, overlap=80)


def _person(skeleton=COCO18, *, x: float, y: float = 50.0, width: float = 60.0,
            height: float = 200.0, seed: int = 0) -> np.ndarray:
    """A person's keypoints (K, 3) in frame pixels spread over a width x height box."""
    rng = np.random.default_rng(seed)
    k = skeleton.num_keypoints
    xs = x + rng.uniform(0, width, k)
    ys = y + np.linspace(0, height, k)
    return np.stack([xs, ys, np.full(k, 0.9)], axis=1).astype(np.float32)


def _seen_in(crop: Crop, people: list[np.ndarray], skeleton=COCO18, *,
             boxes: bool = False, jitter: float = 0.5) -> Poses:
    """What a head finds in ``crop``: each person's keypoints inside it, in crop pixels,
    slightly moved; people with fewer than 3 keypoints inside are not found."""
    rng = np.random.default_rng(crop.x + 7 * crop.y)
    found, found_boxes = [], []
    for kp in people:
        inside = ((kp[:, 0] >= crop.x) & (kp[:, 0] < crop.x + crop.w)
                  & (kp[:, 1] >= crop.y) & (kp[:, 1] < crop.y + crop.h))
        if inside.sum() < 3:
            continue
        local = kp.copy()
        local[:, :2] -= (crop.x, crop.y)
        local[:, :2] += rng.normal(0, jitter, (len(kp), 2))
        local[~inside] = 0.0
        found.append(local)
        xy = local[inside, :2]
        found_boxes.append([*xy.min(axis=0), *xy.max(axis=0)])
    if not found:
        return Poses.empty(skeleton)
    scores = np.full(len(found), 0.8, np.float32)
    box_array = np.array(found_boxes, np.float32) if boxes else None
    return Poses(np.stack(found), scores, skeleton, boxes=box_array)


def _merge(people: list[np.ndarray], **kwargs) -> Poses:
    results = [(t, _seen_in(t, people)) for t in TILES]
    return merge_crops(results, frame_w=FRAME_W, frame_h=FRAME_H, skeleton=COCO18,
                       method="oks", threshold=0.5, **kwargs)


def test_two_tiles_as_planned() -> None:
    assert [t.box for t in TILES] == [(0, 0, 240, 300), (160, 0, 400, 300)]


def test_crop_to_frame_offsets_and_clips() -> None:
    kp = np.zeros((1, 18, 3), np.float32)
    kp[0, 0] = (5.0, 6.0, 0.9)
    kp[0, 1] = (300.0, 10.0, 0.8)
    poses = Poses(kp, np.ones(1), COCO18)
    crop = Crop(x=100, y=50, w=200, h=100, scale=2.0)
    moved = crop_to_frame(poses, crop, frame_w=320, frame_h=240)
    assert moved.keypoints[0, 0].tolist() == pytest.approx([105.0, 56.0, 0.9])
    assert moved.keypoints[0, 1, 0] == 319.0  # clipped inside the frame
    assert moved.keypoints[0, 2].tolist() == [0.0, 0.0, 0.0]  # missing stays missing
    scaled = crop_to_frame(poses, crop, frame_w=320, frame_h=240, input_pixels=True)
    assert scaled.keypoints[0, 0, :2].tolist() == pytest.approx([102.5, 53.0])


def test_a_person_inside_one_tile_and_cut_by_the_other_is_one_pose() -> None:
    person = _person(x=0.0)
    person[:, 0] = np.linspace(170, 260, 18)  # tile 0 cuts it at 240, tile 1 has it all
    merged = _merge([person])
    assert len(merged) == 1
    assert (merged.keypoints[0, :, 2] > 0).all()
    np.testing.assert_allclose(merged.keypoints[0, :, :2], person[:, :2], atol=3.0)


def test_a_person_split_across_two_tiles_is_one_whole_pose() -> None:
    person = _person(x=0.0)
    person[:, 0] = np.linspace(120, 290, 18)  # neither tile sees it all; both see 160..240
    first, second = (_seen_in(t, [person]) for t in TILES)
    assert len(first) == len(second) == 1
    assert not (first.keypoints[0, :, 2] > 0).all()
    assert not (second.keypoints[0, :, 2] > 0).all()
    merged = _merge([person])
    assert len(merged) == 1
    assert (merged.keypoints[0, :, 2] > 0).all()  # the halves filled each other in
    np.testing.assert_allclose(merged.keypoints[0, :, :2], person[:, :2], atol=3.0)


def test_two_people_side_by_side_in_the_overlap_stay_two() -> None:
    left = _person(x=165.0, width=25.0, seed=1)
    right = _person(x=205.0, width=25.0, seed=2)
    per_tile = [len(_seen_in(t, [left, right])) for t in TILES]
    assert per_tile == [2, 2]
    merged = _merge([left, right])
    assert len(merged) == 2
    xs = sorted(float(np.mean(p[:, 0])) for p in merged.keypoints)
    assert xs == pytest.approx([np.mean(left[:, 0]), np.mean(right[:, 0])], abs=2.0)


def test_without_fill_the_fuller_pose_is_kept_as_is() -> None:
    person = _person(x=0.0)
    person[:, 0] = np.linspace(120, 270, 18)  # tile 0 sees x < 240, tile 1 x >= 160
    parts = [crop_to_frame(_seen_in(t, [person]), t, frame_w=FRAME_W, frame_h=FRAME_H)
             for t in TILES]
    counts = [int((p.keypoints[0, :, 2] > 0).sum()) for p in parts]
    assert counts[0] > counts[1]
    together = concat_poses(parts, COCO18)
    kept = merge_by_oks(together, np.array([0, 1]), threshold=0.5, fill_missing=False)
    assert len(kept) == 1
    np.testing.assert_array_equal(kept.keypoints[0], parts[0].keypoints[0])


def test_people_in_one_crop_never_suppress_each_other() -> None:
    kp = _person(x=100.0)
    poses = Poses(np.stack([kp, kp]), np.array([0.9, 0.8]), COCO18)
    crop = Crop(x=0, y=0, w=FRAME_W, h=FRAME_H)
    for method in ("oks", "box"):
        merged = merge_crops([(crop, poses), (Crop(x=300, y=0, w=100, h=100),
                                              Poses.empty(COCO18))],
                             frame_w=FRAME_W, frame_h=FRAME_H, skeleton=COCO18,
                             method=method, threshold=0.5)  # type: ignore[arg-type]
        assert len(merged) == 2


def test_box_nms_across_tiles_with_iou_and_ios() -> None:
    person = _person(COCO17, x=0.0)
    person[:, 0] = np.linspace(170, 260, 17)  # tile 0 sees a cut box, tile 1 the whole one
    seen = [_seen_in(t, [person], COCO17, boxes=True) for t in TILES]
    seen[1] = Poses(seen[1].keypoints, np.array([0.95], np.float32), COCO17,
                    boxes=seen[1].boxes)
    results = list(zip(TILES, seen, strict=True))
    common = {"frame_w": FRAME_W, "frame_h": FRAME_H, "skeleton": COCO17, "method": "box"}
    by_iou = merge_crops(results, threshold=0.7, overlap="iou", **common)  # type: ignore[arg-type]
    by_ios = merge_crops(results, threshold=0.7, overlap="ios", **common)  # type: ignore[arg-type]
    assert len(by_iou) == 2  # the cut box covers too little of the whole one
    assert len(by_ios) == 1 and by_ios.scores.tolist() == pytest.approx([0.95])
    assert by_ios.boxes is not None and by_ios.boxes[0, 2] > 240  # the whole one is kept


def test_box_nms_keeps_two_people_side_by_side() -> None:
    people = [_person(COCO17, x=165.0, width=25.0, seed=1),
              _person(COCO17, x=205.0, width=25.0, seed=2)]
    results = [(t, _seen_in(t, people, COCO17, boxes=True)) for t in TILES]
    merged = merge_crops(results, frame_w=FRAME_W, frame_h=FRAME_H, skeleton=COCO17,
                         method="box", threshold=0.5, overlap="ios")
    assert len(merged) == 2


def test_merge_by_boxes_orders_by_score_and_skips_same_group() -> None:
    kp = np.zeros((3, 17, 3), np.float32)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 10, 10], [1, 1, 10, 10]], np.float32)
    poses = Poses(kp, np.array([0.5, 0.9, 0.7]), COCO17, boxes=boxes)
    kept = merge_by_boxes(poses, np.array([0, 0, 1]), threshold=0.5)
    assert kept.scores.tolist() == pytest.approx([0.9, 0.5])


def test_priority_goes_before_the_score() -> None:
    kp = np.zeros((2, 17, 3), np.float32)
    boxes = np.array([[0, 0, 10, 10], [0, 0, 12, 10]], np.float32)
    poses = Poses(kp, np.array([0.9, 0.6]), COCO17, boxes=boxes)
    groups = np.array([0, 1])
    assert merge_by_boxes(poses, groups, threshold=0.5).scores.tolist() == \
        pytest.approx([0.9])
    kept = merge_by_boxes(poses, groups, threshold=0.5, priority=np.array([False, True]))
    assert kept.scores.tolist() == pytest.approx([0.6])
    fuller = np.ones((2, 17, 3), np.float32)
    fuller[1, :3] = 0  # the second has fewer keypoints, but the priority
    kept = merge_by_oks(Poses(fuller, np.array([0.9, 0.6]), COCO17), groups, threshold=0.5,
                        fill_missing=False, priority=np.array([0, 1]))
    assert kept.scores.tolist() == pytest.approx([0.6])


def test_single_crop_is_only_mapped() -> None:
    kp = _person(x=10.0)[None] - np.array([0, 0, 0], np.float32)
    poses = Poses(kp, np.ones(1), COCO18)
    crop = Crop(x=50, y=0, w=200, h=300)
    merged = merge_crops([(crop, poses)], frame_w=FRAME_W, frame_h=FRAME_H, skeleton=COCO18,
                         method="oks", threshold=0.5)
    np.testing.assert_allclose(merged.keypoints[0, :, 0], kp[0, :, 0] + 50)
    empty = merge_crops([], frame_w=FRAME_W, frame_h=FRAME_H, skeleton=COCO18,
                        method="oks", threshold=0.5)
    assert len(empty) == 0 and empty.skeleton is COCO18


def test_oks_and_sigmas() -> None:
    sigmas = keypoint_sigmas(COCO18)
    assert sigmas[COCO18.index("neck")] == DEFAULT_SIGMA
    assert sigmas[COCO18.index("nose")] == pytest.approx(0.026)
    kp = _person(x=10.0)
    assert oks(kp, kp, sigmas) == (pytest.approx(1.0), 18)
    far = kp.copy()
    far[:, 0] += 40
    assert oks(kp, far, sigmas)[0] < 0.1
    one = np.zeros_like(kp)
    one[2] = kp[2] + np.array([3.0, 4.0, 0.0], np.float32)  # right shoulder, 5 px off
    area = 60.0 * 200.0  # about the keypoints' extent
    expected = np.exp(-25.0 / (2 * area * (2 * 0.079) ** 2))
    similarity, shared = oks(kp, one, sigmas)
    assert shared == 1 and similarity == pytest.approx(expected, rel=0.05)
    none = np.zeros_like(kp)
    assert oks(kp, none, sigmas) == (0.0, 0)


def test_concat_drops_boxes_unless_all_have_them() -> None:
    kp = _person(COCO17, x=10.0)[None]
    with_box = Poses(kp, np.ones(1), COCO17, boxes=np.array([[0, 0, 5, 5]]))
    without = Poses(kp, np.ones(1), COCO17)
    assert concat_poses([with_box, with_box], COCO17).boxes is not None
    assert concat_poses([with_box, without], COCO17).boxes is None


@pytest.mark.parametrize("kwargs", [{"method": "nms"}, {"threshold": 1.5}])
def test_bad_settings_are_refused(kwargs: dict[str, object]) -> None:
    poses = Poses(_person(x=10.0)[None], np.ones(1), COCO18)
    settings: dict[str, object] = {"method": "oks", "threshold": 0.5, **kwargs}
    crops = [(TILES[0], poses), (TILES[1], poses)]
    with pytest.raises(ValueError):
        merge_crops(crops, frame_w=FRAME_W, frame_h=FRAME_H, skeleton=COCO18,
                    **settings)  # type: ignore[arg-type]
