"""A frame's work-item results -> one result: box NMS for people with boxes, OKS for
PAF poses (the halves of a person cut at a seam become one), one item left as it is."""

from __future__ import annotations

import numpy as np

from streampose.backends.fake_people import standing_person
from streampose.pose import COCO17, COCO18
from streampose.stages.item_merge import ItemMerge, cut_by_edges
from streampose.transport.messages import FrameHeader, PoseResult


def item(index: int, keypoints: list[np.ndarray], boxes: list[list[float]] | None = None,
         scores: list[float] | None = None,
         crop: tuple[int, int, int, int] = (0, 0, 0, 0), scale: float = 1.0) -> PoseResult:
    header = FrameHeader(stream=0, seq=5, ticket=5, item=index, items=2, width=480,
                         height=360, crop=crop, transform=(scale, scale, 0.0, 0.0))
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


def test_a_person_cut_at_a_seam_loses_to_the_whole_one_whatever_the_scores() -> None:
    """Tiles x 0..240, 120..360 and 240..480: a person at x 226..249 is cut by the first
    and the third at x = 240 and whole in the second. The confident left half must not
    suppress the whole person (the right half, not overlapping it, would stay)."""
    person = np.ones((17, 3), np.float32)
    left = item(0, [person], [[226, 120, 240, 173]], [0.86], crop=(0, 0, 240, 180))
    middle = item(1, [person], [[226, 120, 250, 172]], [0.80], crop=(120, 0, 240, 180))
    right = item(2, [person], [[240, 126, 249, 170]], [0.46], crop=(240, 0, 240, 180))
    merged = ItemMerge(COCO17)([left, middle, right])
    assert merged.boxes is not None
    assert merged.boxes.tolist() == [[226, 120, 250, 172]]


def test_cut_means_touching_an_inner_edge_of_the_crop() -> None:
    boxes = np.array([[121, 10, 150, 50],  # at the left seam (x = 120)
                      [200, 10, 230, 50],  # inside
                      [300, 10, 358, 50],  # at the right seam (x = 360)
                      [200, 0, 230, 50]],  # at the frame's top: not a seam
                     np.float32)
    cut = cut_by_edges(boxes, (120, 0, 240, 180), width=480, height=360, margin=3.0)
    assert cut.tolist() == [True, False, True, False]
    whole_frame = cut_by_edges(boxes, (0, 0, 0, 0), width=480, height=360, margin=3.0)
    assert not whole_frame.any()


# --- several scales: each person from the scales that see their height well ---------

RANGE = (130.0, 450.0)  # network pixels (low, high), as a keypoint head's


def test_each_scale_keeps_the_heights_it_sees_well_and_the_merge_takes_one_of_two() -> None:
    person = np.ones((17, 3), np.float32)
    small = [10, 10, 30, 50]  # 40 px: 130 network px at 3.25, 50 at 1.25 (too small)
    tall = [200, 20, 300, 320]  # 300 px: 975 at 3.25 (too tall), 375 at 1.25
    middle = [100, 100, 150, 220]  # 120 px: 390 and 150, both in range
    fine = item(0, [person] * 3, [small, tall, middle], [0.9, 0.95, 0.9], scale=3.25)
    coarse = item(1, [person] * 3, [small, tall, middle], [0.9, 0.6, 0.8], scale=1.25)
    merged = ItemMerge(COCO17, person_px=RANGE)([fine, coarse])
    assert merged.boxes is not None and merged.scores is not None
    assert sorted(merged.boxes.tolist()) == sorted([small, tall, middle])
    # the tall one from the coarse scale, though the fine one (cut by the scale) scored more
    np.testing.assert_allclose(merged.scores, [0.9, 0.9, 0.6])
    # one scale (tiles, or no person range): nobody is dropped for their height
    same = ItemMerge(COCO17, person_px=RANGE)([
        item(0, [person], [tall], [0.9], scale=3.25), item(1, [person], [small], [0.9],
                                                           scale=3.2)])
    assert same.boxes is not None and len(same.boxes) == 2
