"""Privacy: blur each person's head, located from its keypoints by name."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

import cv2
import numpy as np

from streampose.errors import ConfigError
from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton
from streampose.render.annotator import check_confidence, check_positive, visible_keypoints

__all__ = ["FaceBlurAnnotator"]

_FACE_NAMES = ("nose", "right_eye", "left_eye", "right_ear", "left_ear")


@dataclass(frozen=True)
class _HeadLayout:
    """Indices (or -1) of the head keypoints of one skeleton, found by name."""

    face: tuple[int, ...]  # nose, eyes, ears: whichever the skeleton has
    neck: int
    shoulders: tuple[int, int]


@functools.lru_cache(maxsize=16)
def _head_layout(skeleton: Skeleton) -> _HeadLayout:
    index = {name: i for i, name in enumerate(skeleton.keypoints)}
    face = tuple(index[n] for n in _FACE_NAMES if n in index)
    shoulders = (index.get("right_shoulder", -1), index.get("left_shoulder", -1))
    return _HeadLayout(face=face, neck=index.get("neck", -1), shoulders=shoulders)


def _point(kp: np.ndarray, ok: np.ndarray, index: int) -> np.ndarray | None:
    return kp[index, :2] if index >= 0 and ok[index] else None


def _midpoint(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    return (a + b) / 2 if a is not None and b is not None else None


def _head_circle(kp: np.ndarray, ok: np.ndarray, layout: _HeadLayout,
                 min_radius: float) -> tuple[np.ndarray, float] | None:
    """Centre and radius of one person's head, or None when nothing locates it.

    The centre is the mean of the visible face keypoints (nose, eyes, ears); without any,
    it is estimated above the neck from the shoulder width. A skeleton without a neck
    keypoint (COCO-17) uses the shoulders' midpoint, when both are visible, as its neck.
    The radius is the largest of 1.6 x the face keypoints' spread, 0.6 x the face-neck
    distance, 0.3 x the shoulder width (each counted when its keypoints are visible),
    0.08 x the larger side of the box around all visible keypoints, and ``min_radius``.
    """
    face = [kp[i, :2] for i in layout.face if ok[i]]
    rs, ls = (_point(kp, ok, i) for i in layout.shoulders)
    neck = _point(kp, ok, layout.neck) if layout.neck >= 0 else _midpoint(rs, ls)
    shoulder_w = float(np.linalg.norm(rs - ls)) if rs is not None and ls is not None else 0.0
    if face:
        centre = np.mean(face, axis=0)
        spread = max(float(np.linalg.norm(p - centre)) for p in face)
        to_neck = float(np.linalg.norm(neck - centre)) if neck is not None else 0.0
    elif neck is not None and shoulder_w > 0:
        centre, spread, to_neck = neck - (0.0, 0.55 * shoulder_w), 0.0, 0.0
    else:
        return None
    extent = float(np.ptp(kp[ok, :2], axis=0).max())
    return centre, max(1.6 * spread, 0.6 * to_neck, 0.3 * shoulder_w, 0.08 * extent,
                       min_radius)


class FaceBlurAnnotator:
    """Privacy: blur a disc around each person's head, in place, every person, every frame.

    The head is found from its keypoints by name (nose, eyes, ears; neck and shoulders
    for size; the shoulders' midpoint where the skeleton has no neck), so any skeleton
    naming them works (COCO-17, COCO-18, BODY-25). Any present keypoint
    counts (confidence > ``min_confidence``, default 0: privacy errs on blurring). The
    disc's radius (see :func:`_head_circle`) is multiplied by ``scale``; the disc is
    clipped to the frame, so people at the border are covered as far as they are visible.

    ``strength`` (0..1] is the size of the detail that survives, as a fraction of the
    disc's diameter: ``mode="gaussian"`` blurs with a sigma of about half that,
    ``mode="pixelate"`` uses blocks that size. The work is done on a downscaled copy of
    the head region only, so it costs well under a millisecond per person at 1080p.
    """

    def __init__(self, *, strength: float = 0.25, scale: float = 1.0,
                 mode: Literal["gaussian", "pixelate"] = "gaussian",
                 min_confidence: float = 0.0) -> None:
        check_positive("FaceBlurAnnotator", "strength", strength, 1.0)
        check_positive("FaceBlurAnnotator", "scale", scale, 10.0)
        if mode not in ("gaussian", "pixelate"):
            raise ConfigError(f"FaceBlurAnnotator: mode = {mode!r} must be 'gaussian' or "
                              "'pixelate'")
        self.strength, self.scale, self.mode = float(strength), float(scale), mode
        self.min_confidence = check_confidence("FaceBlurAnnotator", min_confidence)

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        layout = _head_layout(poses.skeleton)
        ok = visible_keypoints(poses, self.min_confidence)
        min_radius = max(4.0, min(scene.shape[:2]) / 60)
        for kp, visible in zip(poses.keypoints, ok, strict=True):
            circle = _head_circle(kp, visible, layout, min_radius)
            if circle is not None:
                self._blur_disc(scene, circle[0], circle[1] * self.scale)
        return scene

    def _blur_disc(self, scene: np.ndarray, centre: np.ndarray, radius: float) -> None:
        h, w = scene.shape[:2]
        cx, cy, r = float(centre[0]), float(centre[1]), float(radius)
        x1, y1 = max(0, int(np.floor(cx - r))), max(0, int(np.floor(cy - r)))
        x2, y2 = min(w, int(np.ceil(cx + r)) + 1), min(h, int(np.ceil(cy + r)) + 1)
        if x2 - x1 < 2 or y2 - y1 < 2:
            return
        roi = scene[y1:y2, x1:x2]
        smooth = self._smoothed(roi, 2 * r)
        mask = np.zeros(roi.shape[:2], np.uint8)
        cv2.circle(mask, (round(cx - x1), round(cy - y1)), round(r), 255, -1)
        blended = cv2.copyTo(smooth, mask, roi)  # in place for a frame view ...
        if blended is not roi:
            roi[...] = blended  # ... and copied back should OpenCV ever allocate

    def _smoothed(self, roi: np.ndarray, diameter: float) -> np.ndarray:
        """``roi`` with detail smaller than ``strength * diameter`` removed."""
        h, w = roi.shape[:2]
        cell = max(1.0, self.strength * diameter)
        if self.mode == "pixelate":
            small = cv2.resize(roi, _cells(w, h, cell), interpolation=cv2.INTER_AREA)
            return cv2.resize(small, (w, h), interpolation=cv2.INTER_NEAREST)
        small = cv2.resize(roi, _cells(w, h, cell / 4), interpolation=cv2.INTER_AREA)
        small = cv2.GaussianBlur(small, (0, 0), sigmaX=2.0, borderType=cv2.BORDER_REPLICATE)
        return cv2.resize(small, (w, h), interpolation=cv2.INTER_LINEAR)


def _cells(w: int, h: int, cell: float) -> tuple[int, int]:
    return max(1, round(w / cell)), max(1, round(h / cell))
