"""Outputs of every skeleton: COCO results in COCO-17, OpenPose JSON in an OpenPose layout,
JSON lines naming the skeleton."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from streampose.outputs.base import FrameMeta
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.jsonl import JsonLinesSink
from streampose.outputs.openpose import OpenPoseJsonSink, openpose_layout
from streampose.pose import BODY25, COCO17, COCO18, Poses, Skeleton
from streampose.pose.coco import to_coco_results

META = FrameMeta(stream=0, frame=3, pts=3, pts_s=0.1, wall=1.5, image_id=785,
                 name="000000000785.jpg")
L_SHOULDER, R_SHOULDER = (100.0, 50.0, 0.8), (60.0, 54.0, 0.6)


def coco17_people() -> Poses:
    """Two COCO-17 people: the first with both shoulders, the second without its right one."""
    rng = np.random.default_rng(1)
    kp = np.zeros((2, 17, 3), np.float32)
    kp[..., :2] = rng.uniform(10, 200, (2, 17, 2))
    kp[..., 2] = rng.uniform(0.2, 1.0, (2, 17))
    kp[0, 5], kp[0, 6] = L_SHOULDER, R_SHOULDER
    kp[1, 6] = 0.0
    kp[1, 0] = 0.0  # and no nose
    return Poses(kp, np.array([0.9, 0.4], np.float32), COCO17, np.array([3, -1]))


def people_of(skeleton: Skeleton) -> Poses:
    kp = np.zeros((1, skeleton.num_keypoints, 3), np.float32)
    kp[0, :, 0] = np.arange(skeleton.num_keypoints) + 10
    kp[0, :, 1] = 20
    kp[0, :, 2] = 0.5
    return Poses(kp, np.ones(1, np.float32), skeleton)


def openpose_people(folder: Path, poses: Poses) -> list[dict]:
    sink = OpenPoseJsonSink(folder=folder, stems=["x"])
    sink.open()
    sink.write(META, poses, None)
    sink.close()
    data = json.loads((folder / "000000000785_keypoints.json").read_text())
    people: list[dict] = data["people"]
    return people


# --- COCO results --------------------------------------------------------------------


def test_coco_results_of_coco17_poses_are_the_keypoints() -> None:
    poses = coco17_people()
    results = to_coco_results(poses, 785)
    assert [r["image_id"] for r in results] == [785, 785]
    assert [r["score"] for r in results] == pytest.approx([0.9, 0.4])
    kp = np.array(results[0]["keypoints"]).reshape(17, 3)
    np.testing.assert_allclose(kp[:, :2], poses.keypoints[0, :, :2], atol=0.006)
    assert (kp[:, 2] == 1).all()
    second = np.array(results[1]["keypoints"]).reshape(17, 3)
    assert (second[[0, 6]] == 0).all() and (second[1:6, 2] == 1).all()


@pytest.mark.parametrize("skeleton", [COCO18, BODY25], ids=lambda s: s.name)
def test_coco_results_of_openpose_skeletons_are_in_coco_order(skeleton: Skeleton) -> None:
    poses = people_of(skeleton)
    kp = np.array(to_coco_results(poses, 1)[0]["keypoints"]).reshape(17, 3)
    for c, name in enumerate(COCO17.keypoints):
        assert kp[c, 0] == 10 + skeleton.index(name), name
    assert (kp[:, 2] == 1).all()


def test_coco_sink_writes_coco17_poses(tmp_path: Path) -> None:
    sink = CocoResultsSink(path=tmp_path / "res.json")
    sink.open()
    sink.write(META, coco17_people(), None)
    sink.write(META, Poses.empty(COCO17), None)
    sink.close()
    results = json.loads((tmp_path / "res.json").read_text())
    assert len(results) == 2 and all(len(r["keypoints"]) == 51 for r in results)


# --- OpenPose JSON -------------------------------------------------------------------


def test_openpose_json_of_coco17_poses_is_coco18_with_a_neck(tmp_path: Path) -> None:
    people = openpose_people(tmp_path, coco17_people())
    assert [p["person_id"] for p in people] == [[3], [-1]]
    first = np.array(people[0]["pose_keypoints_2d"]).reshape(18, 3)
    np.testing.assert_allclose(first[COCO18.index("neck")], (80, 52, 0.6), atol=1e-3)
    np.testing.assert_allclose(first[COCO18.index("left_shoulder")], L_SHOULDER, atol=1e-3)
    np.testing.assert_allclose(first[COCO18.index("right_shoulder")], R_SHOULDER, atol=1e-3)
    source = coco17_people().keypoints[0]
    for name in COCO17.keypoints:
        np.testing.assert_allclose(first[COCO18.index(name)], source[COCO17.index(name)],
                                   atol=1e-3)


def test_openpose_json_no_neck_without_both_shoulders(tmp_path: Path) -> None:
    second = np.array(openpose_people(tmp_path, coco17_people())[1]["pose_keypoints_2d"])
    second = second.reshape(18, 3)
    assert (second[COCO18.index("neck")] == 0).all()
    assert (second[COCO18.index("right_shoulder")] == 0).all()
    assert (second[COCO18.index("nose")] == 0).all()
    assert second[COCO18.index("left_shoulder"), 2] > 0


@pytest.mark.parametrize("skeleton", [COCO18, BODY25], ids=lambda s: s.name)
def test_openpose_json_keeps_openpose_layouts(tmp_path: Path, skeleton: Skeleton) -> None:
    assert openpose_layout(skeleton) is skeleton
    poses = people_of(skeleton)
    flat = openpose_people(tmp_path, poses)[0]["pose_keypoints_2d"]
    np.testing.assert_allclose(flat, poses.keypoints[0].ravel(), atol=1e-3)


def test_openpose_layout_of_coco17_is_coco18() -> None:
    assert openpose_layout(COCO17) is COCO18


# --- JSON lines ----------------------------------------------------------------------


@pytest.mark.parametrize("skeleton", [COCO17, COCO18, BODY25], ids=lambda s: s.name)
def test_json_lines_name_the_skeleton(tmp_path: Path, skeleton: Skeleton) -> None:
    sink = JsonLinesSink(path=tmp_path / "out.jsonl")
    sink.open()
    sink.write(META, people_of(skeleton), None)
    sink.close()
    record = json.loads((tmp_path / "out.jsonl").read_text().splitlines()[0])
    assert record["skeleton"] == skeleton.name
    assert len(record["persons"][0]["keypoints"]) == skeleton.num_keypoints
    assert Poses.from_json(record).skeleton is skeleton
