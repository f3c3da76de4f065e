"""OpenPose-style limbs and keypoints."""

from __future__ import annotations

import cv2
import numpy as np

from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton
from streampose.render.annotator import (
    check_confidence,
    check_thickness,
    line_thickness,
    visible_keypoints,
)
from streampose.render.colors import rgb_to_bgr

__all__ = ["SkeletonAnnotator"]


class SkeletonAnnotator:
    """OpenPose-style limbs and keypoints (one colour per limb / keypoint index).

    Redundant limbs (OpenPose's shoulder-ear links) are not drawn; neither are keypoints
    at or below ``min_confidence`` nor limbs touching them. ``thickness`` defaults to a
    value scaled with the frame size.
    """

    def __init__(self, *, min_confidence: float = 0.0, thickness: int | None = None) -> None:
        self.min_confidence = check_confidence("SkeletonAnnotator", min_confidence)
        check_thickness("SkeletonAnnotator", thickness)
        self.thickness = thickness

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        thickness = line_thickness(scene, self.thickness)
        pts = np.round(poses.keypoints[..., :2]).astype(np.int32)
        ok = visible_keypoints(poses, self.min_confidence)
        self._limbs(scene, poses.skeleton, pts, ok, thickness)
        self._joints(scene, poses.skeleton, pts, ok, thickness)
        return scene

    @staticmethod
    def _limbs(scene: np.ndarray, skeleton: Skeleton, pts: np.ndarray, ok: np.ndarray,
               thickness: int) -> None:
        for limb, (a, b) in enumerate(skeleton.limbs):
            if limb in skeleton.redundant:
                continue
            color = rgb_to_bgr(skeleton.color(limb))
            for p in np.flatnonzero(ok[:, a] & ok[:, b]):
                cv2.line(scene, tuple(pts[p, a].tolist()), tuple(pts[p, b].tolist()), color,
                         thickness, cv2.LINE_AA)

    @staticmethod
    def _joints(scene: np.ndarray, skeleton: Skeleton, pts: np.ndarray, ok: np.ndarray,
                thickness: int) -> None:
        for p, k in zip(*np.nonzero(ok), strict=True):
            cv2.circle(scene, tuple(pts[p, k].tolist()), thickness + 1,
                       rgb_to_bgr(skeleton.color(int(k))), -1, cv2.LINE_AA)
