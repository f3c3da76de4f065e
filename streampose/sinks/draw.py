"""Skeleton drawing with OpenCV, in place on a BGR frame (OpenPose-style colours)."""

from __future__ import annotations

import cv2
import numpy as np

from streampose.pose.poses import Poses


class SkeletonAnnotator:
    """Draws limbs and keypoints of ``Poses`` whose confidence exceeds ``min_confidence``."""

    def __init__(self, *, min_confidence: float = 0.0, thickness: int | None = None) -> None:
        self.min_confidence = min_confidence
        self.thickness = thickness

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        thickness = self.thickness or max(1, round(min(scene.shape[:2]) / 240))
        skeleton = poses.skeleton
        pts = np.round(poses.keypoints[..., :2]).astype(np.int32)
        ok = poses.keypoints[..., 2] > self.min_confidence
        for limb, (a, b) in enumerate(skeleton.limbs):
            if limb in skeleton.redundant:
                continue
            color = skeleton.color(limb)[::-1]
            for p in np.nonzero(ok[:, a] & ok[:, b])[0]:
                cv2.line(scene, tuple(pts[p, a]), tuple(pts[p, b]), color, thickness, cv2.LINE_AA)
        for p, k in zip(*np.nonzero(ok), strict=True):
            cv2.circle(scene, tuple(pts[p, k]), thickness + 1, skeleton.color(k)[::-1], -1,
                       cv2.LINE_AA)
        return scene
