"""benchmarks/recall_match.py: the person-recall matching rule on synthetic poses and boxes."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"
sys.path.insert(0, str(BENCHMARKS))

from recall_match import (  # noqa: E402  (benchmarks/ is a script folder, not a package)
    FrameScore,
    Person,
    Rule,
    expanded,
    found_points,
    parse_truth,
    score_frame,
    score_run,
    total,
)


def pose_at(x: float, y: float, w: float = 10, h: float = 40, score: float = 0.9,
            count: int = 10) -> list[list[float]]:
    """``count`` keypoints spread down a w x h person whose box starts at (x, y)."""
    return [[x + w * (i % 3) / 2, y + h * i / (count - 1), score] for i in range(count)]


def test_a_pose_inside_its_box_matches() -> None:
    score = score_frame([pose_at(100, 50)], [Person(box=(100, 50, 110, 90))])
    assert score == FrameScore(people=1, poses=1, hits=1, ignored=0)


def test_a_pose_elsewhere_is_a_miss_and_a_false_positive() -> None:
    score = score_frame([pose_at(300, 50)], [Person(box=(100, 50, 110, 90))])
    assert (score.hits, score.false_positives, score.people) == (0, 1, 1)


def test_half_the_keypoints_inside_is_not_enough() -> None:
    inside = [[105.0, 60.0 + i, 0.9] for i in range(5)]
    outside = [[200.0, 60.0 + i, 0.9] for i in range(5)]
    assert score_frame([inside + outside], [Person(box=(100, 50, 110, 90))]).hits == 0
    assert score_frame([[*inside, *outside[:4]]], [Person(box=(100, 50, 110, 90))]).hits == 1


def test_the_box_is_grown_by_ten_percent_of_its_size() -> None:
    assert expanded((100, 50, 110, 90), 0.1) == pytest.approx((99, 46, 111, 94))
    just_outside = [[105.0, 93.0, 0.9]] * 3  # within the grown box, below the tight one
    assert score_frame([just_outside], [Person(box=(100, 50, 110, 90))]).hits == 1
    assert score_frame([just_outside], [Person(box=(100, 50, 110, 90))],
                       Rule(margin=0.0)).hits == 0


def test_weak_keypoints_do_not_count_unless_there_is_nothing_else() -> None:
    weak_far = [[300.0, 60.0, 0.1]] * 8
    strong_in = [[105.0, 60.0, 0.9]] * 2
    assert found_points(weak_far + strong_in, 0.2) == [(105.0, 60.0)] * 2
    assert found_points(weak_far, 0.2) == [(300.0, 60.0)] * 8
    assert found_points([[0.0, 0.0, 0.0]] * 3, 0.2) == []


def test_a_pose_without_keypoints_is_not_scored() -> None:
    score = score_frame([[[0.0, 0.0, 0.0]] * 17], [Person(box=(100, 50, 110, 90))])
    assert (score.poses, score.false_positives) == (0, 0)


def test_one_pose_matches_one_box_and_a_duplicate_is_a_false_positive() -> None:
    boxes = [Person(box=(100, 50, 110, 90))]
    score = score_frame([pose_at(100, 50), pose_at(100, 51)], boxes)
    assert (score.hits, score.false_positives) == (1, 1)


def test_two_people_side_by_side_get_one_pose_each() -> None:
    people = [Person(box=(100, 50, 110, 90)), Person(box=(108, 50, 118, 90))]
    score = score_frame([pose_at(108, 50), pose_at(100, 50)], people)
    assert (score.hits, score.false_positives) == (2, 0)


def test_the_higher_fraction_wins_a_contested_box() -> None:
    # A lies wholly in box 1 and 60% in box 2 (they overlap); B lies wholly in box 2 only.
    # Greedy on the fraction gives A->1, B->2; taking pairs in list order would give
    # A->2 first and leave B without a box.
    box1, box2 = Person(box=(0, 0, 20, 40)), Person(box=(12, 0, 32, 40))
    a = [[15.0, float(y), 0.9] for y in range(6)] + [[5.0, float(y), 0.9] for y in range(4)]
    b = [[25.0, float(y), 0.9] for y in range(10)]
    score = score_frame([a, b], [box2, box1])
    assert (score.hits, score.false_positives) == (2, 0)


def test_ties_go_to_the_box_that_overlaps_the_pose_most() -> None:
    big = Person(box=(0, 0, 100, 100))
    tight = Person(box=(40, 20, 52, 70))
    pose = [[40.0, 20.0, 0.9], [52.0, 70.0, 0.9], [46.0, 45.0, 0.9]]
    other = [[80.0, 90.0, 0.9]] * 3  # fits only the big box
    assert score_frame([pose, other], [big, tight]).hits == 2


def test_a_pose_on_an_ignore_box_counts_neither_way() -> None:
    people = [Person(box=(100, 50, 110, 90)), Person(box=(200, 50, 210, 90), ignore=True)]
    score = score_frame([pose_at(200, 50)], people)
    assert score == FrameScore(people=1, poses=1, hits=0, ignored=1)
    assert score.false_positives == 0


def test_counted_boxes_are_matched_before_ignore_boxes() -> None:
    people = [Person(box=(100, 50, 110, 90), ignore=True), Person(box=(100, 50, 110, 90))]
    score = score_frame([pose_at(100, 50)], people)
    assert (score.hits, score.ignored) == (1, 0)


def test_an_ignore_box_takes_one_pose_only() -> None:
    people = [Person(box=(200, 50, 210, 90), ignore=True)]
    score = score_frame([pose_at(200, 50), pose_at(200, 51)], people)
    assert (score.ignored, score.false_positives) == (1, 1)


def test_totals_give_recall_precision_and_people_per_frame() -> None:
    totals = total([FrameScore(people=4, poses=3, hits=2, ignored=1),
                    FrameScore(people=2, poses=2, hits=2, ignored=0)])
    assert totals.recall == pytest.approx(4 / 6)
    assert totals.precision == pytest.approx(4 / 4)
    assert (totals.people_per_frame, totals.found_per_frame) == (3.0, 2.5)


def test_a_frame_the_run_did_not_output_counts_as_all_missed() -> None:
    truth = {0: [Person(box=(100, 50, 110, 90))], 5: [Person(box=(100, 50, 110, 90))]}
    totals = score_run({0: [pose_at(100, 50)]}, truth)
    assert (totals.frames, totals.people, totals.hits) == (2, 2, 1)


def test_the_stored_ground_truth_parses_and_covers_both_videos() -> None:
    videos = json.loads((BENCHMARKS / "recall_gt" / "people.json").read_text())["videos"]
    vtest, hd = parse_truth(videos["vtest.mp4"]), parse_truth(videos["vtest_1080p_300f.mp4"])
    assert len(vtest) >= 10 and len(hd) >= 4 and max(hd) < 300
    for frames, (w, h) in ((vtest, (480, 360)), (hd, (1920, 1080))):
        for people in frames.values():
            for p in people:
                x1, y1, x2, y2 = p.box
                assert 0 <= x1 < x2 <= w and 0 <= y1 < y2 <= h


def test_a_box_must_have_four_numbers() -> None:
    with pytest.raises(ValueError, match="x1, y1, x2, y2"):
        parse_truth({"frames": {"0": [{"box": [1, 2, 3]}]}})
