"""COCO keypoint results: Poses -> the list pycocotools' ``loadRes`` reads.

Poses of any skeleton that converts to COCO-17 (:mod:`streampose.pose.convert`) are
written in COCO-17 order: COCO-17 as is, COCO-18 without its neck, BODY-25 without its
neck, mid hip and feet.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from streampose.pose.convert import convert
from streampose.pose.poses import Poses
from streampose.pose.skeleton import COCO17


def to_coco_results(poses: Poses, image_id: int) -> list[dict[str, Any]]:
    """One COCO result per person: 17 keypoints (x, y, v) in COCO order, v=1 when found.

    ``poses`` must be in image pixels. Skeletons that do not convert to COCO-17 raise
    ValueError naming the skeleton.
    """
    coco = convert(poses, COCO17).keypoints.astype(np.float64)
    found = coco[..., 2] > 0
    coco[..., 2] = 1.0
    coco[~found] = 0.0
    results = []
    for kp, score in zip(np.round(coco, 2), poses.scores.tolist(), strict=True):
        results.append({"image_id": int(image_id), "category_id": 1,
                        "keypoints": kp.ravel().tolist(), "score": float(score)})
    return results
