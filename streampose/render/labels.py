"""Track-id labels (``#7``) on tags in the id's colour."""

from __future__ import annotations

import cv2
import numpy as np

from streampose.pose.poses import Poses
from streampose.render.annotator import (
    check_confidence,
    check_count,
    check_positive,
    drawn_people,
    person_heights,
)
from streampose.render.boxes import person_boxes
from streampose.render.colors import BGR, id_color

__all__ = ["MIN_TEXT_SCALE", "PX_PER_TEXT_SCALE", "LabelAnnotator", "label_scale"]

PX_PER_TEXT_SCALE = 120  # text scale 1 per 120 px of person height (FONT_HERSHEY_SIMPLEX)
MIN_TEXT_SCALE = 0.3  # about 9 px tall digits: the smallest still legible


class LabelAnnotator:
    """The track id as text (``#7``) on a tag in the id's colour, just above the person.

    People without a track id (-1) get no label, nor do people scoring below
    ``min_score`` or with fewer than ``min_keypoints`` visible keypoints. The tag sits
    above the person's padded box, or inside its top edge when the person touches the top
    of the frame; it is kept inside the frame horizontally. Its text scale is
    ``text_scale`` if given, else :func:`label_scale` of the person's height.
    """

    def __init__(self, *, min_confidence: float = 0.0, text_scale: float | None = None,
                 padding: float = 0.1, min_score: float = 0.0, min_keypoints: int = 0) -> None:
        self.min_confidence = check_confidence("LabelAnnotator", min_confidence)
        check_positive("LabelAnnotator", "text_scale", text_scale, 20)
        check_positive("LabelAnnotator", "padding", padding, 10)
        self.text_scale, self.padding = text_scale, padding
        self.min_score = check_confidence("LabelAnnotator", min_score, "min_score")
        self.min_keypoints = check_count("LabelAnnotator", "min_keypoints", min_keypoints)

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray:
        if len(poses) == 0:
            return scene
        boxes, has_box = person_boxes(poses, min_confidence=self.min_confidence,
                                      padding=self.padding, shape=scene.shape)
        has_box &= drawn_people(poses, min_confidence=self.min_confidence,
                                min_score=self.min_score, min_keypoints=self.min_keypoints)
        heights = person_heights(poses, self.min_confidence)
        for p in np.flatnonzero(has_box & (poses.track_ids >= 0)):
            track_id = int(poses.track_ids[p])
            scale = self.text_scale or label_scale(scene, float(heights[p]))
            _tag(scene, f"#{track_id}", boxes[p], id_color(track_id), scale,
                 max(1, round(scale * 1.5)))
        return scene


def label_scale(scene: np.ndarray, height: float) -> float:
    """The text scale of a label for a person ``height`` px tall: 1 per
    :data:`PX_PER_TEXT_SCALE` px, at least :data:`MIN_TEXT_SCALE`, at most the frame's
    (0.4, or 1 per 900 px of its shorter side)."""
    frame = max(0.4, int(min(scene.shape[:2])) / 900)
    return float(min(frame, max(MIN_TEXT_SCALE, height / PX_PER_TEXT_SCALE)))


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
