"""OpenPose-style limbs and keypoints."""

from __future__ import annotations

import cv2
import numpy as np

from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton
from streampose.render.annotator import (
    check_confidence,
    check_count,
    check_thickness,
    drawn_people,
    person_thickness,
    visible_keypoints,
)
from streampose.render.colors import rgb_to_bgr

__all__ = ["SkeletonAnnotator"]


class SkeletonAnnotator:
    """OpenPose-style limbs and keypoints (one colour per limb / keypoint index).

    Redundant limbs (OpenPose's shoulder-ear links) are not drawn; neither are keypoints
    at or below ``min_confidence`` nor limbs touching them, nor people scoring below
    ``min_score`` or with fewer than ``min_keypoints`` visible keypoints. ``thickness``
    (joints: ``thickness + 1`` radius) defaults to a value per person, from its height,
    capped by the frame size (:func:`~streampose.render.annotator.person_thickness`).
    """

    def __init__(self, *, min_confidence: float = 0.0, thickness: int | None = None,
                 min_score: float = 0.0, min_keypoints: int = 0) -> None:
        self.min_confidence = check_confidence("SkeletonAnnotator", min_confidence)
        check_thickness("SkeletonAnnotator", thickness)
        self.thickness = thickness
        self.min_score = check_confidence("SkeletonAnnotator", min_score, "min_score")
        self.min_keypoints = check_count("SkeletonAnnotator", "min_keypoints", min_keypoints)

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        thickness = person_thickness(scene, poses, min_confidence=self.min_confidence,
                                     thickness=self.thickness)
        pts = np.round(poses.keypoints[..., :2]).astype(np.int32)
        ok = visible_keypoints(poses, self.min_confidence) & drawn_people(
            poses, min_confidence=self.min_confidence, min_score=self.min_score,
            min_keypoints=self.min_keypoints)[:, None]
        self._limbs(scene, poses.skeleton, pts, ok, thickness)
        self._joints(scene, poses.skeleton, pts, ok, thickness)
        return scene

    @staticmethod
    def _limbs(scene: np.ndarray, skeleton: Skeleton, pts: np.ndarray, ok: np.ndarray,
               thickness: np.ndarray) -> None:
        for limb, (a, b) in enumerate(skeleton.limbs):
            if limb in skeleton.redundant:
                continue
            color = rgb_to_bgr(skeleton.color(limb))
            for p in np.flatnonzero(ok[:, a] & ok[:, b]):
                cv2.line(scene, tuple(pts[p, a].tolist()), tuple(pts[p, b].tolist()), color,
                         int(thickness[p]), cv2.LINE_AA)

    @staticmethod
    def _joints(scene: np.ndarray, skeleton: Skeleton, pts: np.ndarray, ok: np.ndarray,
                thickness: np.ndarray) -> None:
        for p, k in zip(*np.nonzero(ok), strict=True):
            cv2.circle(scene, tuple(pts[p, k].tolist()), int(thickness[p]) + 1,
                       rgb_to_bgr(skeleton.color(int(k))), -1, cv2.LINE_AA)
