"""Track-id labels (``#7``) on tags in the id's colour."""

from __future__ import annotations

import cv2
import numpy as np

from streampose.pose.poses import Poses
from streampose.render.annotator import check_confidence, check_positive
from streampose.render.boxes import person_boxes
from streampose.render.colors import BGR, id_color

__all__ = ["LabelAnnotator"]


class LabelAnnotator:
    """The track id as text (``#7``) on a tag in the id's colour, just above the person.

    People without a track id (-1) get no label. The tag sits above the person's padded
    box, or inside its top edge when the person touches the top of the frame; it is
    kept inside the frame horizontally.
    """

    def __init__(self, *, min_confidence: float = 0.0, text_scale: float | None = None,
                 padding: float = 0.1) -> None:
        self.min_confidence = check_confidence("LabelAnnotator", min_confidence)
        check_positive("LabelAnnotator", "text_scale", text_scale, 20)
        check_positive("LabelAnnotator", "padding", padding, 10)
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
