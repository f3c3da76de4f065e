"""Boxes around people: :func:`person_boxes` (geometry) and :class:`BoxAnnotator`."""

from __future__ import annotations

import cv2
import numpy as np

from streampose.pose.poses import Poses
from streampose.render.annotator import (
    check_confidence,
    check_count,
    check_positive,
    check_thickness,
    drawn_people,
    person_thickness,
    visible_keypoints,
)
from streampose.render.colors import id_color

__all__ = ["BoxAnnotator", "person_boxes"]


def person_boxes(poses: Poses, *, min_confidence: float = 0.0, padding: float = 0.1,
                 shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boxes around each person: ``(boxes (P, 4) int32, has_box (P,))``.

    Boxes are ``x1, y1, x2, y2``: the model's person boxes when the poses carry them
    (:attr:`Poses.boxes`, drawn as they are), else the extent of each person's visible
    keypoints padded by ``padding`` times the larger box side (at least 4 px); clipped to
    ``shape`` (a frame's ``(height, width, ...)``) if given. People with no visible
    keypoint and no stored box have ``has_box`` False (and a zero box).
    """
    if poses.boxes is not None:
        return _clipped(poses.boxes, shape), np.ones(len(poses), bool)
    ok = visible_keypoints(poses, min_confidence)
    has_box: np.ndarray = np.asarray(ok.any(axis=1))
    xy = poses.keypoints[..., :2]
    lo = np.where(ok[..., None], xy, np.inf).min(axis=1)
    hi = np.where(ok[..., None], xy, -np.inf).max(axis=1)
    pad = np.maximum(4.0, padding * (hi - lo).max(axis=1, initial=0.0))[:, None]
    boxes = np.concatenate([lo - pad, hi + pad], axis=1)
    boxes[~has_box] = 0
    return _clipped(boxes, shape), has_box


def _clipped(boxes: np.ndarray, shape: tuple[int, ...] | None) -> np.ndarray:
    if shape is not None:
        h, w = shape[:2]
        boxes = np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1])
    return np.round(boxes).astype(np.int32)


class BoxAnnotator:
    """A rectangle around each person's drawn keypoints, in the colour of its track id.

    People without a track id (-1) get :data:`NEUTRAL_COLOR`, or no box at all with
    ``tracked_only=True``; people scoring below ``min_score`` or with fewer than
    ``min_keypoints`` visible keypoints get none. The line is as thick as the person's
    limbs (``thickness``, else from its height).
    """

    def __init__(self, *, min_confidence: float = 0.0, thickness: int | None = None,
                 padding: float = 0.1, tracked_only: bool = False, min_score: float = 0.0,
                 min_keypoints: int = 0) -> None:
        self.min_confidence = check_confidence("BoxAnnotator", min_confidence)
        check_thickness("BoxAnnotator", thickness)
        check_positive("BoxAnnotator", "padding", padding, 10)
        self.thickness, self.padding, self.tracked_only = thickness, padding, tracked_only
        self.min_score = check_confidence("BoxAnnotator", min_score, "min_score")
        self.min_keypoints = check_count("BoxAnnotator", "min_keypoints", min_keypoints)

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        boxes, has_box = person_boxes(poses, min_confidence=self.min_confidence,
                                      padding=self.padding, shape=scene.shape)
        if self.tracked_only:
            has_box &= poses.track_ids >= 0
        has_box &= drawn_people(poses, min_confidence=self.min_confidence,
                                min_score=self.min_score, min_keypoints=self.min_keypoints)
        thickness = person_thickness(scene, poses, min_confidence=self.min_confidence,
                                     thickness=self.thickness)
        for p in np.flatnonzero(has_box):
            x1, y1, x2, y2 = boxes[p].tolist()
            color = id_color(int(poses.track_ids[p]))
            cv2.rectangle(scene, (x1, y1), (x2, y2), color, int(thickness[p]), cv2.LINE_8)
        return scene
