"""A frame's work-item results -> one result: box NMS for people with boxes, OKS for
PAF poses (the halves of a person cut at a seam become one), one item left as it is."""

from __future__ import annotations

import numpy as np

from streampose.backends.fake_people import standing_person
from streampose.pose import COCO17, COCO18
from streampose.stages.item_merge import ItemMerge
from streampose.transport.messages import FrameHeader, PoseResult


def item(index: int, keypoints: list[np.ndarray], boxes: list[list[float]] | None = None,
         scores: list[float] | None = None) -> PoseResult:
    header = FrameHeader(stream=0, seq=5, ticket=5, item=index, items=2)
    kp = np.stack(keypoints) if keypoints else np.zeros((0, 18, 3), np.float32)
    score = np.asarray(scores if scores is not None else [0.9] * len(keypoints), np.float32)
    box = None if boxes is None else np.asarray(boxes, np.float32).reshape(-1, 4)
    return PoseResult(header, kp, score, box)


def test_one_item_is_left_as_it_is() -> None:
    only = item(0, [standing_person(x=50, top=10, height=80)])
    assert ItemMerge(COCO18)([only]) is only


def test_the_halves_of_a_paf_pose_cut_at_a_seam_are_one_whole_pose() -> None:
    whole = standing_person(x=100, top=10, height=80)
    upper = whole.copy()
    upper[[9, 10, 12, 13]] = 0  # the left tile lost the knees and ankles
    lower = whole.copy()
    lower[[0, 14, 15, 16, 17]] = 0  # the right tile lost the head
    other = standing_person(x=300, top=10, height=80)  # someone else, right tile only
    merged = ItemMerge(COCO18)([item(0, [upper]), item(1, [lower, other])])
    assert len(merged.keypoints) == 2  # type: ignore[arg-type]
    assert merged.header.ticket == 5
    kp = merged.keypoints
    assert kp is not None
    first = int(np.argmin(kp[:, 1, 0]))  # the person at x = 100
    np.testing.assert_allclose(kp[first], whole)  # filled from its other half


def test_people_with_boxes_merge_by_box_overlap_across_items() -> None:
    person = np.ones((17, 3), np.float32)
    box = [100, 10, 140, 90]
    cut = [120, 10, 140, 90]  # the part of the same person inside the right tile
    near = [150, 10, 190, 90]  # a neighbour: another person
    merged = ItemMerge(COCO17)([item(0, [person], [box], [0.9]),
                                item(1, [person, person], [cut, near], [0.8, 0.7])])
    assert merged.boxes is not None
    assert merged.boxes.tolist() == [box, near]


def test_people_of_one_item_never_suppress_each_other() -> None:
    person = np.ones((17, 3), np.float32)
    box = [100, 10, 140, 90]
    merged = ItemMerge(COCO17)([item(0, [person, person], [box, box], [0.9, 0.8]),
                                item(1, [], [], [])])
    assert merged.boxes is not None and len(merged.boxes) == 2
