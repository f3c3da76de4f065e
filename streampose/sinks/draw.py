"""Annotators: small classes with one ``annotate(scene, poses)`` method, drawing in place.

The scene is a BGR ``uint8`` frame (skeleton colours are RGB and are reversed here). Every
annotator draws in place and returns the scene; an empty ``Poses`` leaves it untouched.
A keypoint is *visible* when its confidence is above ``min_confidence`` (and above 0: a
missing keypoint is (0, 0, 0)); nothing is drawn for invisible keypoints.

:func:`build_annotators` composes them in the order that matters: faces are blurred
first (so no drawing is blurred away), then skeletons, boxes, and track-id labels on top.
"""

from __future__ import annotations

import colorsys
import functools
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

import cv2
import numpy as np

from streampose.errors import ConfigError
from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton

__all__ = [
    "NEUTRAL_COLOR",
    "Annotator",
    "Annotators",
    "BoxAnnotator",
    "FaceBlurAnnotator",
    "LabelAnnotator",
    "SkeletonAnnotator",
    "build_annotators",
    "id_color",
    "person_boxes",
]

log = logging.getLogger(__name__)

BGR = tuple[int, int, int]
NEUTRAL_COLOR: BGR = (200, 200, 200)  # people without a track id
_GOLDEN = 0.618033988749895
_FACE_NAMES = ("nose", "right_eye", "left_eye", "right_ear", "left_ear")


class Annotator(Protocol):
    """Anything that draws ``poses`` on a BGR ``scene`` in place and returns it."""

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray: ...


@functools.lru_cache(maxsize=1024)
def id_color(track_id: int) -> BGR:
    """A deterministic, saturated BGR colour for ``track_id``; neutral grey for ids < 0.

    Hues follow the golden-ratio sequence, so consecutive ids get well-separated colours.
    """
    if track_id < 0:
        return NEUTRAL_COLOR
    r, g, b = colorsys.hsv_to_rgb((track_id * _GOLDEN) % 1.0, 0.85, 0.95)
    return round(b * 255), round(g * 255), round(r * 255)


def _check_confidence(owner: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise ConfigError(f"{owner}: min_confidence = {value!r} must be a number >= 0")
    return float(value)


def _check_thickness(owner: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 1 <= value <= 100):
        raise ConfigError(f"{owner}: thickness = {value!r} must be None or an integer in 1..100")


def _check_positive(owner: str, name: str, value: float | None, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ConfigError(f"{owner}: {name} = {value!r} must be a number in (0, {high}]")


def _visible(poses: Poses, min_confidence: float) -> np.ndarray:
    """``(P, K)`` bool: keypoints worth drawing."""
    conf = poses.keypoints[..., 2]
    return (conf > min_confidence) & (conf > 0)


def _line_thickness(scene: np.ndarray, thickness: int | None) -> int:
    """``thickness`` if given, else about 1 px per 240 px of the shorter frame side."""
    return thickness or max(1, round(min(scene.shape[:2]) / 240))


def _bgr(rgb: tuple[int, int, int]) -> BGR:
    return rgb[2], rgb[1], rgb[0]


class SkeletonAnnotator:
    """OpenPose-style limbs and keypoints (one colour per limb / keypoint index).

    Redundant limbs (OpenPose's shoulder-ear links) are not drawn; neither are keypoints
    at or below ``min_confidence`` nor limbs touching them. ``thickness`` defaults to a
    value scaled with the frame size.
    """

    def __init__(self, *, min_confidence: float = 0.0, thickness: int | None = None) -> None:
        self.min_confidence = _check_confidence("SkeletonAnnotator", min_confidence)
        _check_thickness("SkeletonAnnotator", thickness)
        self.thickness = thickness

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        thickness = _line_thickness(scene, self.thickness)
        pts = np.round(poses.keypoints[..., :2]).astype(np.int32)
        ok = _visible(poses, self.min_confidence)
        self._limbs(scene, poses.skeleton, pts, ok, thickness)
        self._joints(scene, poses.skeleton, pts, ok, thickness)
        return scene

    @staticmethod
    def _limbs(scene: np.ndarray, skeleton: Skeleton, pts: np.ndarray, ok: np.ndarray,
               thickness: int) -> None:
        for limb, (a, b) in enumerate(skeleton.limbs):
            if limb in skeleton.redundant:
                continue
            color = _bgr(skeleton.color(limb))
            for p in np.flatnonzero(ok[:, a] & ok[:, b]):
                cv2.line(scene, tuple(pts[p, a].tolist()), tuple(pts[p, b].tolist()), color,
                         thickness, cv2.LINE_AA)

    @staticmethod
    def _joints(scene: np.ndarray, skeleton: Skeleton, pts: np.ndarray, ok: np.ndarray,
                thickness: int) -> None:
        for p, k in zip(*np.nonzero(ok), strict=True):
            cv2.circle(scene, tuple(pts[p, k].tolist()), thickness + 1,
                       _bgr(skeleton.color(int(k))), -1, cv2.LINE_AA)


def person_boxes(poses: Poses, *, min_confidence: float = 0.0, padding: float = 0.1,
                 shape: tuple[int, ...] | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Boxes around each person's visible keypoints: ``(boxes (P, 4) int32, has_box (P,))``.

    Boxes are ``x1, y1, x2, y2``, padded by ``padding`` times the larger box side (at
    least 4 px), and clipped to ``shape`` (a frame's ``(height, width, ...)``) if given.
    People with no visible keypoint have ``has_box`` False (and a zero box).
    """
    ok = _visible(poses, min_confidence)
    has_box = ok.any(axis=1)
    xy = poses.keypoints[..., :2]
    lo = np.where(ok[..., None], xy, np.inf).min(axis=1)
    hi = np.where(ok[..., None], xy, -np.inf).max(axis=1)
    pad = np.maximum(4.0, padding * (hi - lo).max(axis=1, initial=0.0))[:, None]
    boxes = np.concatenate([lo - pad, hi + pad], axis=1)
    boxes[~has_box] = 0
    if shape is not None:
        h, w = shape[:2]
        boxes = np.clip(boxes, 0, [w - 1, h - 1, w - 1, h - 1])
    return np.round(boxes).astype(np.int32), has_box


class BoxAnnotator:
    """A rectangle around each person's drawn keypoints, in the colour of its track id.

    People without a track id (-1) get :data:`NEUTRAL_COLOR`, or no box at all with
    ``tracked_only=True``.
    """

    def __init__(self, *, min_confidence: float = 0.0, thickness: int | None = None,
                 padding: float = 0.1, tracked_only: bool = False) -> None:
        self.min_confidence = _check_confidence("BoxAnnotator", min_confidence)
        _check_thickness("BoxAnnotator", thickness)
        _check_positive("BoxAnnotator", "padding", padding, 10)
        self.thickness, self.padding, self.tracked_only = thickness, padding, tracked_only

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        boxes, has_box = person_boxes(poses, min_confidence=self.min_confidence,
                                      padding=self.padding, shape=scene.shape)
        if self.tracked_only:
            has_box &= poses.track_ids >= 0
        thickness = _line_thickness(scene, self.thickness)
        for p in np.flatnonzero(has_box):
            x1, y1, x2, y2 = boxes[p].tolist()
            color = id_color(int(poses.track_ids[p]))
            cv2.rectangle(scene, (x1, y1), (x2, y2), color, thickness, cv2.LINE_8)
        return scene


class LabelAnnotator:
    """The track id as text (``#7``) on a tag in the id's colour, just above the person.

    People without a track id (-1) get no label. The tag sits above the person's padded
    box, or inside its top edge when the person touches the top of the frame; it is
    kept inside the frame horizontally.
    """

    def __init__(self, *, min_confidence: float = 0.0, text_scale: float | None = None,
                 padding: float = 0.1) -> None:
        self.min_confidence = _check_confidence("LabelAnnotator", min_confidence)
        _check_positive("LabelAnnotator", "text_scale", text_scale, 20)
        _check_positive("LabelAnnotator", "padding", padding, 10)
        self.text_scale, self.padding = text_scale, padding

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        boxes, has_box = person_boxes(poses, min_confidence=self.min_confidence,
                                      padding=self.padding, shape=scene.shape)
        scale = self.text_scale or max(0.4, min(scene.shape[:2]) / 900)
        weight = max(1, round(scale * 1.5))
        for p in np.flatnonzero(has_box & (poses.track_ids >= 0)):
            track_id = int(poses.track_ids[p])
            _tag(scene, f"#{track_id}", boxes[p], id_color(track_id), scale, weight)
        return scene


def _tag(scene: np.ndarray, text: str, box: np.ndarray, color: BGR, scale: float,
         weight: int) -> None:
    """Draw ``text`` on a filled ``color`` tag anchored at the top-left of ``box``."""
    font = cv2.FONT_HERSHEY_SIMPLEX
    (tw, th), base = cv2.getTextSize(text, font, scale, weight)
    margin = max(2, th // 4)
    tag_w, tag_h = tw + 2 * margin, th + base + 2 * margin
    x = int(min(max(box[0], 0), max(scene.shape[1] - tag_w, 0)))
    y = int(box[1] - tag_h if box[1] - tag_h >= 0 else box[1])
    cv2.rectangle(scene, (x, y), (x + tag_w - 1, y + tag_h - 1), color, -1)
    luma = 0.114 * color[0] + 0.587 * color[1] + 0.299 * color[2]
    ink = (0, 0, 0) if luma > 140 else (255, 255, 255)
    cv2.putText(scene, text, (x + margin, y + margin + th), font, scale, ink, weight,
                cv2.LINE_AA)


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


def _head_circle(kp: np.ndarray, ok: np.ndarray, layout: _HeadLayout,
                 min_radius: float) -> tuple[np.ndarray, float] | None:
    """Centre and radius of one person's head, or None when nothing locates it.

    The centre is the mean of the visible face keypoints (nose, eyes, ears); without any,
    it is estimated above the neck from the shoulder width. The radius is the largest of
    1.6 x the face keypoints' spread, 0.6 x the face-neck distance, 0.3 x the shoulder
    width (each counted when its keypoints are visible), 0.08 x the larger side of the
    box around all visible keypoints, and ``min_radius``.
    """
    face = [kp[i, :2] for i in layout.face if ok[i]]
    neck = _point(kp, ok, layout.neck)
    rs, ls = (_point(kp, ok, i) for i in layout.shoulders)
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
    for size), so any skeleton naming them works (COCO-18, BODY-25). Any present keypoint
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
        _check_positive("FaceBlurAnnotator", "strength", strength, 1.0)
        _check_positive("FaceBlurAnnotator", "scale", scale, 10.0)
        if mode not in ("gaussian", "pixelate"):
            raise ConfigError(f"FaceBlurAnnotator: mode = {mode!r} must be 'gaussian' or "
                              "'pixelate'")
        self.strength, self.scale, self.mode = float(strength), float(scale), mode
        self.min_confidence = _check_confidence("FaceBlurAnnotator", min_confidence)

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        layout = _head_layout(poses.skeleton)
        ok = _visible(poses, self.min_confidence)
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


def build_annotators(*, skeleton: bool = True, boxes: bool = False, ids: bool = False,
                     blur_faces: bool = False, min_confidence: float = 0.0,
                     thickness: int | None = None) -> list[Annotator]:
    """The annotators for the given options, in drawing order.

    Faces are blurred first (with every present keypoint, whatever ``min_confidence``),
    then skeletons, boxes and id labels are drawn on top.
    """
    chain: list[Annotator] = []
    if blur_faces:
        chain.append(FaceBlurAnnotator())
    if skeleton:
        chain.append(SkeletonAnnotator(min_confidence=min_confidence, thickness=thickness))
    if boxes:
        chain.append(BoxAnnotator(min_confidence=min_confidence, thickness=thickness))
    if ids:
        chain.append(LabelAnnotator(min_confidence=min_confidence))
    return chain


class Annotators:
    """Several annotators run in order as one: ``Annotators(annotators=[...]).annotate(...)``.

    :meth:`from_options` builds the chain from the pipeline's draw options.
    """

    def __init__(self, *, annotators: Sequence[Annotator]) -> None:
        self.annotators = tuple(annotators)

    @classmethod
    def from_options(cls, *, skeleton: bool = True, boxes: bool = False, ids: bool = False,
                     blur_faces: bool = False, min_confidence: float = 0.0) -> Annotators:
        return cls(annotators=build_annotators(skeleton=skeleton, boxes=boxes, ids=ids,
                                               blur_faces=blur_faces,
                                               min_confidence=min_confidence))

    def __len__(self) -> int:
        return len(self.annotators)

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        for annotator in self.annotators:
            annotator.annotate(scene, poses)
        return scene
