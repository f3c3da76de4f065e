"""Drawing COCO-17 poses (keypoint heads): limbs, face blur without a neck, boxes, labels."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.backends.fake_people import standing_person
from streampose.pose import COCO17, COCO18, Poses, convert
from streampose.render import (
    BoxAnnotator,
    FaceBlurAnnotator,
    LabelAnnotator,
    SkeletonAnnotator,
    build_annotators,
    id_color,
)


def coco17_person(x: float = 960, top: float = 240, height: float = 600) -> np.ndarray:
    """(17, 3) keypoints of a standing person, from the COCO-18 template."""
    kp = standing_person(x=x, top=top, height=height)[None]
    return convert(Poses(kp, np.ones(1, np.float32), COCO18), COCO17).keypoints[0]


def coco17_poses(*people: np.ndarray, ids: list[int] | None = None) -> Poses:
    return Poses(np.stack(people), np.ones(len(people), np.float32), COCO17,
                 None if ids is None else np.array(ids, np.int64))


def texture(h: int = 1080, w: int = 1920) -> np.ndarray:
    return np.random.default_rng(0).integers(0, 256, (h, w, 3), dtype=np.uint8)


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before != after).any(axis=2)


def rc(kp: np.ndarray, name: str) -> tuple[int, int]:
    x, y = kp[COCO17.index(name), :2]
    return round(float(y)), round(float(x))


def test_every_coco17_limb_and_keypoint_is_drawn() -> None:
    kp = coco17_person()
    scene = np.zeros((1080, 1920, 3), np.uint8)
    SkeletonAnnotator(thickness=2).annotate(scene, coco17_poses(kp))
    drawn = scene.any(axis=2)
    for a, b in COCO17.limbs:
        x, y = (kp[a, :2] + kp[b, :2]) / 2
        assert drawn[round(float(y)), round(float(x))], (COCO17.keypoints[a], COCO17.keypoints[b])
    for name in COCO17.keypoints:
        assert drawn[rc(kp, name)], name
    assert not drawn[:200].any() and not drawn[900:].any()


def test_limbs_take_the_skeleton_colours() -> None:
    kp = coco17_person()
    scene = np.zeros((1080, 1920, 3), np.uint8)
    SkeletonAnnotator(thickness=3).annotate(scene, coco17_poses(kp))
    limb = COCO17.limbs.index((13, 11))  # left knee - left hip: no joint near its middle
    a, b = COCO17.limbs[limb]
    x, y = (kp[a, :2] + kp[b, :2]) / 2
    r, g, bl = COCO17.color(limb)
    assert tuple(scene[round(float(y)), round(float(x))].tolist()) == (bl, g, r)


def test_face_blur_covers_a_coco17_head() -> None:
    kp = coco17_person()
    scene = texture()
    before = scene.copy()
    FaceBlurAnnotator().annotate(scene, coco17_poses(kp))
    r, c = rc(kp, "nose")
    head = (slice(r - 8, r + 8), slice(c - 8, c + 8))
    assert scene[head].astype(float).var() < 0.2 * before[head].astype(float).var()
    ink = changed(before, scene)
    assert not ink[rc(kp, "left_hip")] and not ink[700:].any()


def test_face_blur_of_a_faceless_coco17_person_sits_above_the_shoulders() -> None:
    kp = coco17_person()
    face = ["nose", "left_eye", "right_eye", "left_ear", "right_ear"]
    kp[[COCO17.index(n) for n in face]] = 0.0
    scene = texture()
    before = scene.copy()
    FaceBlurAnnotator().annotate(scene, coco17_poses(kp))
    ink = changed(before, scene)
    r, c = rc(coco17_person(), "nose")
    assert ink[r - 5:r + 5, c - 5:c + 5].mean() > 0.5
    assert not ink[800:].any()


def test_face_blur_needs_a_face_or_both_shoulders() -> None:
    kp = coco17_person()
    for name in ("nose", "left_eye", "right_eye", "left_ear", "right_ear", "right_shoulder"):
        kp[COCO17.index(name)] = 0.0
    scene = texture()
    before = scene.copy()
    FaceBlurAnnotator().annotate(scene, coco17_poses(kp))
    assert (scene == before).all()


def test_boxes_and_labels_of_tracked_coco17_people() -> None:
    left, right = coco17_person(x=500), coco17_person(x=1400)
    scene = np.zeros((1080, 1920, 3), np.uint8)
    poses = coco17_poses(left, right, ids=[5, -1])
    BoxAnnotator(thickness=2).annotate(scene, poses)
    LabelAnnotator().annotate(scene, poses)
    colour = np.array(id_color(5), np.uint8)
    x_min = int(left[left[:, 2] > 0, 0].min())
    column = scene[:, :x_min - 1]
    assert (column == colour).all(axis=2).any()  # the box's left side, in the id's colour
    assert scene[:, 1000:].any() and not (scene[:, 1000:] == colour).all(axis=2).any()


@pytest.mark.parametrize("blur", [False, True])
def test_the_whole_chain_draws_coco17_poses(blur: bool) -> None:
    poses = coco17_poses(coco17_person(), ids=[0])
    scene = texture()
    before = scene.copy()
    for annotator in build_annotators(boxes=True, ids=True, blur_faces=blur):
        annotator.annotate(scene, poses)
    assert changed(before, scene).any()
