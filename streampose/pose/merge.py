"""Merge the poses found in several crops of one frame into one result in frame pixels.

Each crop's :class:`~streampose.pose.poses.Poses` is mapped back to frame pixels
(:func:`crop_to_frame`), then :func:`merge_crops` drops the people counted twice where
crops overlap (tile seams, a whole-frame pass beside regions):

- ``method="box"`` (keypoint heads, which give person boxes): greedy box NMS by score;
  a person whose box overlaps a better one *from another crop* by more than the
  threshold is dropped. Overlap is IoU, or with ``overlap="ios"`` the intersection over
  the smaller box, which also catches a person cut by a tile edge (the half box lies
  inside the whole one).
- ``method="oks"`` (PAF poses, often without boxes): object keypoint similarity, as the
  COCO keypoint metric defines it, over the keypoints both people have::

      oks = mean_i exp(-d_i^2 / (2 * area * (2 * sigma_i)^2))

  with ``area`` the keypoint extent of the fuller person (at least ``min_scale`` squared)
  and ``sigma_i`` the COCO per-keypoint sigmas, looked up by keypoint name (skeletons
  carry no sigmas; a name COCO does not have, e.g. ``neck`` or the feet of BODY-25,
  gets :data:`DEFAULT_SIGMA`). People are taken fullest first (most keypoints above
  ``min_confidence``, then their confidence sum, then score); one matching a kept person
  from another crop (oks >= threshold on at least ``min_shared`` shared keypoints) is
  dropped, and the keypoints the kept person lacks are filled from it (so the halves of
  a person cut at a seam give one whole pose).

Only people from *different* crops suppress each other: within one crop the head has
already decided. People are ordered as kept (best first); track ids are left as they are
(merge runs before tracking).

Known limit: a person split across two tiles whose parts share too few keypoints in the
overlap (a person wider than the overlap, cut twice, or a seam where each tile sees a
different half) is not recognised as one and stays two partial poses; overlap tiles by
about the largest person's height to avoid it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

import numpy as np

from streampose.pose.crops import Crop
from streampose.pose.nms import box_areas, box_intersections
from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton

__all__ = ["COCO_SIGMAS", "DEFAULT_SIGMA", "concat_poses", "crop_to_frame", "keypoint_sigmas",
           "merge_by_boxes", "merge_by_oks", "merge_crops", "oks"]

# The COCO keypoint evaluation's per-keypoint sigmas (cocoeval), by keypoint name.
COCO_SIGMAS: dict[str, float] = {
    "nose": 0.026, "left_eye": 0.025, "right_eye": 0.025, "left_ear": 0.035,
    "right_ear": 0.035, "left_shoulder": 0.079, "right_shoulder": 0.079, "left_elbow": 0.072,
    "right_elbow": 0.072, "left_wrist": 0.062, "right_wrist": 0.062, "left_hip": 0.107,
    "right_hip": 0.107, "left_knee": 0.087, "right_knee": 0.087, "left_ankle": 0.089,
    "right_ankle": 0.089,
}
# The sigma of a keypoint COCO does not name: the shoulders' (the torso's scale).
DEFAULT_SIGMA = 0.079

Method = Literal["box", "oks"]
Overlap = Literal["iou", "ios"]


def keypoint_sigmas(skeleton: Skeleton) -> np.ndarray:
    """float64 ``(K,)``: each keypoint's COCO sigma by name, else :data:`DEFAULT_SIGMA`."""
    return np.array([COCO_SIGMAS.get(name, DEFAULT_SIGMA) for name in skeleton.keypoints])


def crop_to_frame(poses: Poses, crop: Crop, *, frame_w: int, frame_h: int,
                  input_pixels: bool = False) -> Poses:
    """``poses`` found in ``crop`` (in crop pixels, or network input pixels when
    ``input_pixels``) mapped to frame pixels and clipped inside the frame."""
    scale, offset = crop.to_frame_mapping(input_pixels=input_pixels)
    moved = poses.transformed(scale=scale, offset=offset)
    return moved.clipped(width=frame_w, height=frame_h)


def concat_poses(parts: Sequence[Poses], skeleton: Skeleton) -> Poses:
    """All people of ``parts`` in order; boxes kept only when every part has them."""
    if not parts:
        return Poses.empty(skeleton)
    keypoints = np.concatenate([p.keypoints for p in parts])
    scores = np.concatenate([p.scores for p in parts])
    ids = np.concatenate([p.track_ids for p in parts])
    boxes = None
    if all(p.boxes is not None for p in parts):
        boxes = np.concatenate([p.person_boxes() for p in parts])
    return Poses(keypoints, scores, skeleton, ids, boxes)


def merge_crops(results: Sequence[tuple[Crop, Poses]], *, frame_w: int, frame_h: int,
                skeleton: Skeleton, method: Method, threshold: float,
                overlap: Overlap = "iou", input_pixels: bool = False) -> Poses:
    """One frame's result from its crops' ``(crop, poses)``: mapped to frame pixels
    (:func:`crop_to_frame`) then merged by ``method`` (:func:`merge_by_boxes` with
    ``overlap``, or :func:`merge_by_oks`) at ``threshold``. A single crop is only mapped."""
    parts = [crop_to_frame(p, c, frame_w=frame_w, frame_h=frame_h, input_pixels=input_pixels)
             for c, p in results]
    groups = np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate(parts)]
                            or [np.zeros(0, np.int64)])
    merged = concat_poses(parts, skeleton)
    if len(results) <= 1:
        return merged
    if method == "box":
        return merge_by_boxes(merged, groups, threshold=threshold, overlap=overlap)
    if method == "oks":
        return merge_by_oks(merged, groups, threshold=threshold)
    raise ValueError(f"merge_crops: method = {method!r} (allowed: box | oks)")


def merge_by_boxes(poses: Poses, groups: np.ndarray, *, threshold: float,
                   overlap: Overlap = "iou", priority: np.ndarray | None = None) -> Poses:
    """Greedy box NMS by score (ties keep the order) across crops: ``groups[i]`` is
    person i's crop; a person overlapping a kept one of another group by more than
    ``threshold`` (IoU, or intersection over the smaller box for ``"ios"``) is dropped.
    ``priority`` (per person, higher first) goes before the score: e.g. people seen
    whole before people cut by their crop's edge."""
    _check_threshold(threshold)
    if overlap not in ("iou", "ios"):
        raise ValueError(f"merge_by_boxes: overlap = {overlap!r} (allowed: iou | ios)")
    boxes = poses.person_boxes().astype(np.float64)
    areas = box_areas(boxes)
    if priority is None:
        order = np.argsort(-poses.scores, kind="stable")
    else:
        order = np.lexsort((-poses.scores.astype(np.float64),
                            -np.asarray(priority, np.float64)))
    kept: list[int] = []
    for i in order.tolist():
        others = np.asarray([k for k in kept if groups[k] != groups[i]], np.int64)
        inter = box_intersections(boxes[i], boxes[others])
        if not np.any(_box_overlap(inter, areas[i], areas[others], overlap) > threshold):
            kept.append(i)
    return _take(poses, kept)


def _box_overlap(inter: np.ndarray, area: float, areas: np.ndarray, kind: Overlap
                 ) -> np.ndarray:
    base = np.minimum(area, areas) if kind == "ios" else area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        result: np.ndarray = np.where(base > 0, inter / base, 0.0)
    return result


def merge_by_oks(poses: Poses, groups: np.ndarray, *, threshold: float,
                 min_confidence: float = 0.0, min_shared: int = 1, min_scale: float = 16.0,
                 fill_missing: bool = True, priority: np.ndarray | None = None) -> Poses:
    """OKS merge across crops (see the module doc): fullest first (after ``priority``,
    per person, higher first, when given); a person matching a kept one of another
    group (:func:`oks` >= ``threshold``) is dropped, its keypoints filling those the
    kept person lacks when ``fill_missing``."""
    _check_threshold(threshold)
    sigmas = keypoint_sigmas(poses.skeleton)
    kp = poses.keypoints.copy()
    kept: list[int] = []
    for i in _fullest_first(poses, min_confidence, priority).tolist():
        match = _first_match(kp, groups, kept, i, sigmas, threshold, min_shared, min_scale)
        if match < 0:
            kept.append(i)
        elif fill_missing:
            _fill(kp, into=match, source=i)
    return _take(Poses(kp, poses.scores, poses.skeleton, poses.track_ids, poses.boxes), kept)


def oks(a: np.ndarray, b: np.ndarray, sigmas: np.ndarray, *, min_scale: float = 16.0
        ) -> tuple[float, int]:
    """(similarity, shared keypoints) of two people's keypoints ``(K, 3)``; the area is
    ``a``'s keypoint extent (at least ``min_scale`` squared). 0 when none are shared."""
    shared = (a[:, 2] > 0) & (b[:, 2] > 0)
    count = int(shared.sum())
    if count == 0:
        return 0.0, 0
    area = max(_extent_area(a), min_scale * min_scale)
    d2 = ((a[shared, :2] - b[shared, :2]) ** 2).sum(axis=1).astype(np.float64)
    spread = 2.0 * area * (2.0 * sigmas[shared]) ** 2
    return float(np.exp(-d2 / spread).mean()), count


def _extent_area(kp: np.ndarray) -> float:
    xy = kp[kp[:, 2] > 0, :2].astype(np.float64)
    size = xy.max(axis=0) - xy.min(axis=0)
    return float(size[0] * size[1])


def _fullest_first(poses: Poses, min_confidence: float,
                   priority: np.ndarray | None = None) -> np.ndarray:
    conf = poses.keypoints[..., 2].astype(np.float64)
    count = (conf > min_confidence).sum(axis=1)
    total = conf.sum(axis=1)
    keys = [-poses.scores.astype(np.float64), -total, -count]
    if priority is not None:
        keys.append(-np.asarray(priority, np.float64))
    order: np.ndarray = np.lexsort(keys)
    return order


def _first_match(kp: np.ndarray, groups: np.ndarray, kept: list[int], i: int,
                 sigmas: np.ndarray, threshold: float, min_shared: int, min_scale: float
                 ) -> int:
    """The first kept person of another group that ``i`` matches, else -1."""
    for k in kept:
        if groups[k] == groups[i]:
            continue
        similarity, shared = oks(kp[k], kp[i], sigmas, min_scale=min_scale)
        if shared >= min_shared and similarity >= threshold:
            return k
    return -1


def _fill(kp: np.ndarray, *, into: int, source: int) -> None:
    missing = (kp[into, :, 2] <= 0) & (kp[source, :, 2] > 0)
    kp[into, missing] = kp[source, missing]


def _take(poses: Poses, kept: list[int]) -> Poses:
    index = np.asarray(kept, np.int64)
    boxes = None if poses.boxes is None else poses.boxes[index]
    return Poses(poses.keypoints[index], poses.scores[index], poses.skeleton,
                 poses.track_ids[index], boxes)


def _check_threshold(threshold: float) -> None:
    if not (isinstance(threshold, (int, float)) and 0.0 <= threshold <= 1.0):
        raise ValueError(f"merge: threshold = {threshold!r} must be in [0, 1]")
