"""Box overlap and greedy non-maximum suppression on (x1, y1, x2, y2) boxes.

Shared by the keypoint heads (one image's anchors) and :mod:`streampose.pose.merge`
(people found in several crops of one frame); pure numpy.
"""

from __future__ import annotations

import numpy as np

__all__ = ["box_areas", "box_intersections", "box_iou", "box_nms"]


def box_nms(boxes: np.ndarray, iou_threshold: float, limit: int) -> np.ndarray:
    """Greedy NMS over ``boxes`` ``(m, 4)`` (x1, y1, x2, y2) sorted best first: the indices
    kept, in order; a box overlapping a kept one by IoU > ``iou_threshold`` is dropped."""
    kept: list[int] = []
    alive = np.arange(len(boxes))
    areas = box_areas(boxes)
    while alive.size and len(kept) < limit:
        best, rest = alive[0], alive[1:]
        kept.append(int(best))
        overlap = box_iou(boxes[best], areas[best], boxes[rest], areas[rest])
        alive = rest[~(overlap > iou_threshold)]
    return np.asarray(kept, np.int64)


def box_areas(boxes: np.ndarray) -> np.ndarray:
    """Areas of ``boxes`` ``(m, 4)``; an inverted box has area 0."""
    sizes = np.clip(boxes[:, 2:4] - boxes[:, :2], 0.0, None)
    areas: np.ndarray = sizes[:, 0] * sizes[:, 1]
    return areas


def box_intersections(box: np.ndarray, others: np.ndarray) -> np.ndarray:
    """Intersection areas of one ``box`` ``(4,)`` with each of ``others`` ``(m, 4)``."""
    lo = np.maximum(box[:2], others[:, :2])
    hi = np.minimum(box[2:], others[:, 2:])
    inter: np.ndarray = np.clip(hi - lo, 0.0, None).prod(axis=1)
    return inter


def box_iou(box: np.ndarray, area: float, others: np.ndarray, areas: np.ndarray) -> np.ndarray:
    """IoU of one ``box`` (of ``area``) with each of ``others`` (of ``areas``); 0 where the
    union is empty."""
    inter = box_intersections(box, others)
    union = area + areas - inter
    with np.errstate(invalid="ignore", divide="ignore"):
        iou: np.ndarray = np.where(union > 0, inter / union, 0.0)
    return iou
