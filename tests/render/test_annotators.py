"""Annotators: what they draw, where, and what they leave alone."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.errors import ConfigError
from streampose.pose.poses import Poses
from streampose.pose.skeleton import BODY25, COCO18, Skeleton
from streampose.render import (
    NEUTRAL_COLOR,
    BoxAnnotator,
    FaceBlurAnnotator,
    LabelAnnotator,
    SkeletonAnnotator,
    build_annotators,
    id_color,
    person_boxes,
)
from streampose.render.annotator import (
    drawn_people,
    line_thickness,
    person_heights,
    person_thickness,
)
from streampose.render.labels import label_scale

# A person standing, facing the camera, in units of its height (0, 0) = mid hip.
# The person's right side is on the image's left.
_BODY = {
    "nose": (0.0, -0.9), "neck": (0.0, -0.7), "right_eye": (-0.04, -0.93),
    "left_eye": (0.04, -0.93), "right_ear": (-0.08, -0.9), "left_ear": (0.08, -0.9),
    "right_shoulder": (-0.2, -0.7), "left_shoulder": (0.2, -0.7),
    "right_elbow": (-0.3, -0.4), "left_elbow": (0.3, -0.4),
    "right_wrist": (-0.35, -0.1), "left_wrist": (0.35, -0.1), "mid_hip": (0.0, 0.0),
    "right_hip": (-0.1, 0.0), "left_hip": (0.1, 0.0), "right_knee": (-0.1, 0.4),
    "left_knee": (0.1, 0.4), "right_ankle": (-0.1, 0.8), "left_ankle": (0.1, 0.8),
    "right_heel": (-0.12, 0.85), "left_heel": (0.12, 0.85), "right_big_toe": (-0.16, 0.88),
    "left_big_toe": (0.16, 0.88), "right_small_toe": (-0.2, 0.87),
    "left_small_toe": (0.2, 0.87),
}


def person(skeleton: Skeleton, centre: tuple[float, float], height: float,
           conf: float = 0.9) -> np.ndarray:
    """``(K, 3)`` keypoints of a standing person with mid hip at ``centre``."""
    offsets = np.array([_BODY[name] for name in skeleton.keypoints], np.float32)
    kp = np.empty((skeleton.num_keypoints, 3), np.float32)
    kp[:, :2] = np.asarray(centre, np.float32) + height * offsets
    kp[:, 2] = conf
    return kp


def poses(skeleton: Skeleton, *people: np.ndarray, ids: list[int] | None = None) -> Poses:
    kp = np.stack(people) if people else np.zeros((0, skeleton.num_keypoints, 3))
    return Poses(kp, np.ones(len(people), np.float32), skeleton,
                 None if ids is None else np.array(ids, np.int64))


def at(kp: np.ndarray, skeleton: Skeleton, name: str) -> tuple[int, int]:
    """(row, column) of keypoint ``name``."""
    x, y = kp[skeleton.keypoints.index(name), :2]
    return round(float(y)), round(float(x))


def midpoint(kp: np.ndarray, a: int, b: int) -> tuple[int, int]:
    x, y = (kp[a, :2] + kp[b, :2]) / 2
    return round(float(y)), round(float(x))


def changed(before: np.ndarray, after: np.ndarray) -> np.ndarray:
    return (before != after).any(axis=2)


def texture(h: int, w: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


# --- skeleton -----------------------------------------------------------------------


@pytest.mark.parametrize("skeleton", [COCO18, BODY25], ids=lambda s: s.name)
def test_skeleton_draws_limbs_and_keypoints_and_nothing_else(skeleton: Skeleton) -> None:
    kp = person(skeleton, (320, 260), 200)
    scene = np.zeros((480, 640, 3), np.uint8)
    out = SkeletonAnnotator(thickness=2).annotate(scene, poses(skeleton, kp))
    assert out is scene
    drawn = scene.any(axis=2)
    for name in skeleton.keypoints:
        assert drawn[at(kp, skeleton, name)], name
    for limb, (a, b) in enumerate(skeleton.limbs):
        assert drawn[midpoint(kp, a, b)] != (limb in skeleton.redundant), skeleton.limbs[limb]
    x0, y0 = kp[:, :2].min(axis=0).astype(int) - 5
    x1, y1 = kp[:, :2].max(axis=0).astype(int) + 6
    outside = drawn.copy()
    outside[y0:y1, x0:x1] = False
    assert not outside.any()


def test_skeleton_colours_are_openpose_rgb_reversed_to_bgr() -> None:
    kp = person(COCO18, (320, 260), 200)
    scene = np.zeros((480, 640, 3), np.uint8)
    SkeletonAnnotator(thickness=3).annotate(scene, poses(COCO18, kp))
    r, g, b = COCO18.color(0)  # the nose
    assert tuple(scene[at(kp, COCO18, "nose")]) == (b, g, r)


def test_thickness_scales_with_frame_size() -> None:
    def ink(size: int) -> int:
        kp = person(COCO18, (size / 2, size / 2), size * 0.4)
        scene = np.zeros((size, size, 3), np.uint8)
        SkeletonAnnotator().annotate(scene, poses(COCO18, kp))
        return int(scene.any(axis=2).sum())

    assert ink(1080) > 6 * ink(270)  # 4x longer lines, and thicker (4x when ink is ~16x)


@pytest.mark.parametrize(("threshold", "drawn"), [(0.0, True), (0.29, True), (0.3, False),
                                                  (0.5, False)])
def test_min_confidence_hides_keypoints_and_their_limbs(threshold: float, drawn: bool) -> None:
    kp = person(COCO18, (320, 260), 200)
    wrist, elbow = COCO18.keypoints.index("left_wrist"), COCO18.keypoints.index("left_elbow")
    kp[wrist, 2] = 0.3
    scene = np.zeros((480, 640, 3), np.uint8)
    SkeletonAnnotator(min_confidence=threshold, thickness=2).annotate(
        scene, poses(COCO18, kp))
    ink = scene.any(axis=2)
    assert ink[at(kp, COCO18, "left_wrist")] == drawn
    assert ink[midpoint(kp, elbow, wrist)] == drawn
    assert ink[at(kp, COCO18, "left_elbow")]


def test_missing_keypoints_are_not_drawn_at_the_origin() -> None:
    kp = person(COCO18, (320, 260), 200)
    kp[COCO18.keypoints.index("nose")] = 0.0
    scene = np.zeros((480, 640, 3), np.uint8)
    SkeletonAnnotator(thickness=2).annotate(scene, poses(COCO18, kp))
    assert not scene[:20, :20].any()


# --- boxes and labels ---------------------------------------------------------------


def test_id_color_is_deterministic_distinct_and_neutral_without_id() -> None:
    colors = [id_color(i) for i in range(24)]
    assert colors == [id_color(i) for i in range(24)]
    assert len(set(colors)) == 24
    assert id_color(-1) == NEUTRAL_COLOR
    assert NEUTRAL_COLOR not in colors
    assert all(0 <= c <= 255 for color in colors for c in color)


def test_person_boxes_pad_visible_keypoints_and_skip_invisible_people() -> None:
    kp = person(COCO18, (320, 260), 200)
    hidden = np.zeros_like(kp)
    boxes, has_box = person_boxes(poses(COCO18, kp, hidden), padding=0.1, shape=(480, 640))
    assert has_box.tolist() == [True, False]
    (x0, y0), (x1, y1) = kp[:, :2].min(axis=0), kp[:, :2].max(axis=0)
    pad = 0.1 * max(x1 - x0, y1 - y0)
    assert boxes[0].tolist() == [round(x0 - pad), round(y0 - pad), round(x1 + pad),
                                 round(y1 + pad)]


def test_person_boxes_are_clipped_to_the_frame() -> None:
    kp = person(COCO18, (10, 400), 300)
    boxes, _ = person_boxes(poses(COCO18, kp), shape=(480, 640))
    x0, y0, x1, y1 = boxes[0].tolist()
    assert x0 == 0 and y1 == 479 and 0 < y0 < x1 < 640


@pytest.mark.parametrize(("track_id", "tracked_only", "color"), [
    (7, False, id_color(7)), (-1, False, NEUTRAL_COLOR), (7, True, id_color(7)),
    (-1, True, None)])
def test_box_colour_follows_track_id(track_id: int, tracked_only: bool,
                                     color: tuple[int, int, int] | None) -> None:
    kp = person(COCO18, (320, 260), 200)
    ps = poses(COCO18, kp, ids=[track_id])
    scene = np.zeros((480, 640, 3), np.uint8)
    BoxAnnotator(thickness=3, tracked_only=tracked_only).annotate(scene, ps)
    if color is None:
        assert not scene.any()
        return
    x0, y0, x1, y1 = person_boxes(ps, shape=scene.shape)[0][0].tolist()
    assert tuple(scene[(y0 + y1) // 2, x0]) == color
    assert tuple(scene[y0, (x0 + x1) // 2]) == color
    assert not scene[y0 + 5:y1 - 5, x0 + 5:x1 - 5].any()  # a frame, not a fill


def test_labels_only_for_tracked_people_above_them() -> None:
    left, right = person(COCO18, (160, 300), 200), person(COCO18, (480, 300), 200)
    ps = poses(COCO18, left, right, ids=[7, -1])
    scene = np.zeros((480, 640, 3), np.uint8)
    LabelAnnotator().annotate(scene, ps)
    boxes, _ = person_boxes(ps, shape=scene.shape)
    ink = scene.any(axis=2)
    rows, cols = np.nonzero(ink)
    assert rows.size > 0
    assert rows.max() < boxes[0, 1] and cols.min() >= boxes[0, 0]  # above the person
    assert cols.max() < 320  # nothing near the untracked person
    assert (scene[ink] == id_color(7)).all(axis=1).mean() > 0.5  # a tag in the id colour


def test_label_of_a_person_at_the_top_edge_stays_in_the_frame() -> None:
    kp = person(COCO18, (636, 180), 200)  # head above the frame, right edge
    scene = np.zeros((480, 640, 3), np.uint8)
    LabelAnnotator().annotate(scene, poses(COCO18, kp, ids=[123]))
    rows, cols = np.nonzero(scene.any(axis=2))
    assert rows.size > 0 and rows.min() >= 0 and cols.max() <= 639
    assert cols.max() - cols.min() > 10  # the whole tag, not a sliver


# --- face blur ----------------------------------------------------------------------


def _head_box(kp: np.ndarray, skeleton: Skeleton, half: int = 8) -> tuple[slice, slice]:
    r, c = at(kp, skeleton, "nose")
    return slice(max(r - half, 0), r + half), slice(max(c - half, 0), c + half)


@pytest.mark.parametrize("mode", ["gaussian", "pixelate"])
@pytest.mark.parametrize("skeleton", [COCO18, BODY25], ids=lambda s: s.name)
def test_face_blur_blurs_the_head_and_nothing_far_away(skeleton: Skeleton, mode: str) -> None:
    kp = person(skeleton, (960, 600), 600)
    scene = texture(1080, 1920)
    before = scene.copy()
    FaceBlurAnnotator(mode=mode).annotate(scene, poses(skeleton, kp))
    head = _head_box(kp, skeleton)
    assert scene[head].astype(float).var() < 0.2 * before[head].astype(float).var()
    ink = changed(before, scene)
    rows, cols = np.nonzero(ink)
    nose_r, nose_c = at(kp, skeleton, "nose")
    assert np.hypot(rows - nose_r, cols - nose_c).max() < 0.3 * 600  # about a head's size
    assert not ink[at(kp, skeleton, "left_shoulder")]
    assert not ink[700:].any()


def test_face_blur_of_a_person_at_the_frame_border() -> None:
    kp = person(COCO18, (20, 600), 600)
    outside = kp[:, 0] < 0
    kp[outside] = 0.0  # keypoints out of the frame are missing
    assert outside.any() and kp[COCO18.keypoints.index("nose"), 2] > 0
    scene = texture(1080, 1920)
    before = scene.copy()
    FaceBlurAnnotator().annotate(scene, poses(COCO18, kp))
    head = _head_box(kp, COCO18)
    assert scene[head].astype(float).var() < 0.2 * before[head].astype(float).var()
    assert not changed(before, scene)[:, 200:].any()


def test_face_blur_of_a_head_outside_the_frame_is_harmless() -> None:
    kp = person(COCO18, (320, 240), 300)
    kp[:, 1] -= 1000  # the whole person far above the frame
    scene = texture(480, 640)
    before = scene.copy()
    FaceBlurAnnotator().annotate(scene, poses(COCO18, kp))
    assert (scene == before).all()


@pytest.mark.parametrize("keep", [
    ("nose",), ("right_ear", "left_ear"), ("nose", "neck"), ("left_eye", "left_ear", "neck"),
    ("right_ear", "right_wrist", "right_ankle"), ("neck", "right_shoulder", "left_shoulder")])
def test_face_blur_with_some_head_keypoints(keep: tuple[str, ...]) -> None:
    kp = person(COCO18, (960, 600), 600)
    for i, name in enumerate(COCO18.keypoints):
        if name not in keep:
            kp[i] = 0.0
    scene = texture(1080, 1920)
    before = scene.copy()
    FaceBlurAnnotator().annotate(scene, poses(COCO18, kp))
    ink = changed(before, scene)
    assert ink.any()
    true_head = person(COCO18, (960, 600), 600)
    r, c = at(true_head, COCO18, "nose")
    assert ink[r - 5:r + 5, c - 5:c + 5].mean() > 0.5  # the face is covered
    assert not ink[800:].any()


def test_face_blur_needs_some_head_keypoint() -> None:
    kp = person(COCO18, (320, 240), 300)
    head = ("nose", "neck", "right_eye", "left_eye", "right_ear", "left_ear")
    for name in head:
        kp[COCO18.keypoints.index(name)] = 0.0
    scene = texture(480, 640)
    before = scene.copy()
    FaceBlurAnnotator().annotate(scene, poses(COCO18, kp))
    assert (scene == before).all()


def test_face_blur_radius_follows_scale() -> None:
    kp = person(COCO18, (960, 600), 600)
    areas = []
    for scale in (1.0, 2.0):
        scene = texture(1080, 1920)
        before = scene.copy()
        FaceBlurAnnotator(scale=scale).annotate(scene, poses(COCO18, kp))
        areas.append(changed(before, scene).sum())
    assert 3.0 < areas[1] / areas[0] < 5.0  # twice the radius: four times the area


# --- sizes from the person's height, what is not drawn ------------------------------


def standing(height: float, centre: tuple[float, float] = (960, 540)) -> np.ndarray:
    """A standing COCO18 person ``height`` px tall from the top of the eyes to the heels."""
    span = _BODY["right_ankle"][1] - _BODY["right_eye"][1]  # 1.73 units of ``person``
    return person(COCO18, centre, height / span)


def drawn(kp: np.ndarray, thickness: int | None = None) -> np.ndarray:
    scene = np.zeros((1080, 1920, 3), np.uint8)
    return SkeletonAnnotator(thickness=thickness).annotate(scene, poses(COCO18, kp))


@pytest.mark.parametrize(("height", "thickness"), [(50, 1), (80, 2), (120, 3), (160, 4),
                                                   (400, 4), (900, 4)])
def test_limbs_and_joints_follow_the_person_s_height(height: int, thickness: int) -> None:
    """1 px per 40 px of height, at least 1, at most the 1080p frame's 4 px (today's
    size for everybody); joints are 1 px wider in radius than the limbs."""
    kp = standing(height)
    np.testing.assert_array_equal(drawn(kp), drawn(kp, thickness))


def test_a_small_person_gets_thinner_lines() -> None:
    ink = [int(drawn(standing(h)).any(axis=2).sum()) / h for h in (50, 100, 200, 400)]
    assert 1.5 * ink[0] < min(ink[1:])  # ink per px of height: thicker, not just longer
    small, tall = standing(50, (400, 500)), standing(400, (1200, 500))
    scene = np.zeros((1080, 1920, 3), np.uint8)
    assert person_thickness(scene, poses(COCO18, small, tall), min_confidence=0.0,
                            thickness=None).tolist() == [1, 4]


def test_people_tall_enough_are_drawn_as_before() -> None:
    """From 160 px up, the thickness is the frame's (1 px per 240 px of its shorter side),
    as it was for everybody before thickness followed the person."""
    for size, tall in ((360, 80), (720, 120), (1080, 160)):
        scene = np.zeros((size, size * 16 // 9, 3), np.uint8)
        kp = person(COCO18, (size / 2, size / 2), tall)
        got = person_thickness(scene, poses(COCO18, kp), min_confidence=0.0, thickness=None)
        assert got.tolist() == [line_thickness(scene, None)]


def test_a_given_thickness_wins_over_the_person_s_height() -> None:
    scene = np.zeros((1080, 1920, 3), np.uint8)
    ps = poses(COCO18, person(COCO18, (400, 500), 50))
    assert person_thickness(scene, ps, min_confidence=0.0, thickness=3).tolist() == [3]


def test_person_heights_from_boxes_or_visible_keypoints() -> None:
    kp = person(COCO18, (320, 260), 200)
    kp[[COCO18.keypoints.index("right_ankle"), COCO18.keypoints.index("left_ankle")], 2] = 0.1
    ps = poses(COCO18, kp)
    top = kp[:, 1].min()
    knee, ankle = (kp[COCO18.keypoints.index(f"left_{k}"), 1] for k in ("knee", "ankle"))
    assert person_heights(ps, 0.0)[0] == pytest.approx(ankle - top)
    assert person_heights(ps, 0.5)[0] == pytest.approx(knee - top)  # faint ankles left out
    boxed = Poses(kp[None], np.ones(1, np.float32), COCO18, boxes=np.array([[0, 10, 5, 70]]))
    assert person_heights(boxed, 0.0).tolist() == [60.0]
    assert person_heights(poses(COCO18, np.zeros_like(kp)), 0.0).tolist() == [0.0]


def test_labels_of_small_people_are_smaller() -> None:
    def label_ink(height: int) -> int:
        scene = np.zeros((1080, 1920, 3), np.uint8)
        LabelAnnotator().annotate(scene, poses(COCO18, standing(height), ids=[7]))
        return int(scene.any(axis=2).sum())

    # 1 per 120 px of height, at least 0.3, at most the 1080p frame's 1.2 (today's)
    assert label_ink(40) < label_ink(80) < label_ink(150) == label_ink(600)
    scene = np.zeros((1080, 1920, 3), np.uint8)
    assert label_scale(scene, 40) == pytest.approx(1 / 3)
    assert label_scale(scene, 10) == 0.3 and label_scale(scene, 600) == 1.2


def _scored(score: float, found: int) -> Poses:
    """One person of ``score`` with only its first ``found`` keypoints present."""
    kp = person(COCO18, (320, 260), 200)
    kp[found:] = 0.0
    return Poses(kp[None], np.array([score], np.float32), COCO18, np.array([5]))


@pytest.mark.parametrize(("score", "found", "drawn"), [
    (0.5, 18, True), (0.1, 4, True), (0.09, 18, False), (0.5, 3, False), (0.0, 0, False)])
def test_a_doubtful_person_is_not_drawn(score: float, found: int, drawn: bool) -> None:
    ps = _scored(score, found)
    scene = texture(480, 640)
    before = scene.copy()
    for annotator in build_annotators(boxes=True, ids=True, min_score=0.1, min_keypoints=4):
        annotator.annotate(scene, ps)
    assert changed(before, scene).any() == drawn
    assert len(ps) == 1 and ps.scores.tolist() == [pytest.approx(score)]  # poses kept


def test_min_keypoints_counts_keypoints_above_min_confidence() -> None:
    ps = _scored(0.5, 18)
    ps.keypoints[0, 4:, 2] = 0.2  # 4 keypoints at 0.9, 14 at 0.2
    assert drawn_people(ps, min_confidence=0.0, min_score=0.0, min_keypoints=5).tolist() == [
        True]
    assert drawn_people(ps, min_confidence=0.3, min_score=0.0, min_keypoints=5).tolist() == [
        False]


def test_faces_are_blurred_even_for_people_not_drawn() -> None:
    ps = _scored(0.01, 18)
    scene = texture(480, 640)
    before = scene.copy()
    chain = build_annotators(blur_faces=True, min_score=0.5, min_keypoints=4)
    for annotator in chain:
        annotator.annotate(scene, ps)
    nose = at(ps.keypoints[0], COCO18, "nose")
    assert changed(before, scene)[nose]  # privacy first
    assert not changed(before, scene)[at(ps.keypoints[0], COCO18, "left_knee")]


# --- composition, empty input, arguments --------------------------------------------


def test_build_annotators_order_blur_first_labels_last() -> None:
    chain = build_annotators(skeleton=True, boxes=True, ids=True, blur_faces=True,
                             min_confidence=0.2)
    assert [type(a) for a in chain] == [FaceBlurAnnotator, SkeletonAnnotator, BoxAnnotator,
                                        LabelAnnotator]
    assert all(a.min_confidence == 0.2 for a in chain[1:])
    assert chain[0].min_confidence == 0.0  # privacy: blur with every present keypoint
    assert build_annotators(skeleton=False) == []


def test_annotators_run_in_order_draw_in_place() -> None:
    """The render stage runs the chain in order on the frame itself: each annotator draws
    in place and returns the scene it was given, so the chain needs no copy."""
    kp = person(COCO18, (320, 260), 200)
    ps = poses(COCO18, kp, ids=[3])
    scene = texture(480, 640)
    before = scene.copy()
    chain = build_annotators(boxes=True, ids=True, blur_faces=True)
    assert len(chain) == 4
    for annotator in chain:
        assert annotator.annotate(scene, ps) is scene
    assert changed(before, scene).any()


@pytest.mark.parametrize("skeleton", [COCO18, BODY25], ids=lambda s: s.name)
def test_empty_poses_change_nothing(skeleton: Skeleton) -> None:
    scene = texture(120, 160)
    before = scene.copy()
    for annotator in build_annotators(boxes=True, ids=True, blur_faces=True):
        assert annotator.annotate(scene, Poses.empty(skeleton)) is scene
    assert (scene == before).all()


@pytest.mark.parametrize(("make", "argument"), [
    (lambda: SkeletonAnnotator(min_confidence=-0.1), "min_confidence"),
    (lambda: SkeletonAnnotator(thickness=0), "thickness"),
    (lambda: BoxAnnotator(thickness=2.5), "thickness"),
    (lambda: LabelAnnotator(text_scale=0), "text_scale"),
    (lambda: SkeletonAnnotator(min_score=-1), "min_score"),
    (lambda: BoxAnnotator(min_keypoints=2.5), "min_keypoints"),
    (lambda: LabelAnnotator(min_keypoints=-1), "min_keypoints"),
    (lambda: FaceBlurAnnotator(strength=0), "strength"),
    (lambda: FaceBlurAnnotator(strength=1.5), "strength"),
    (lambda: FaceBlurAnnotator(scale=-1), "scale"),
    (lambda: FaceBlurAnnotator(mode="mosaic"), "mode"),
])
def test_bad_arguments_name_the_argument(make, argument: str) -> None:
    with pytest.raises(ConfigError, match=argument):
        make()
