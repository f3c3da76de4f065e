"""COCO keypoint results: Poses -> the list pycocotools' ``loadRes`` reads."""

from __future__ import annotations

from typing import Any

import numpy as np

from streampose.pose.poses import Poses


def to_coco_results(poses: Poses, image_id: int) -> list[dict[str, Any]]:
    """One COCO result per person: 17 keypoints (x, y, v) in COCO order, v=1 when found.

    ``poses`` must be in image pixels. Skeletons without a COCO mapping raise ValueError.
    """
    mapping = np.asarray(poses.skeleton.coco17)
    if mapping.size == 0:
        raise ValueError(f"skeleton {poses.skeleton.name!r} has no COCO-17 mapping")
    src = np.nonzero(mapping >= 0)[0]
    results = []
    for kp, score in zip(poses.keypoints, poses.scores.tolist(), strict=True):
        coco = np.zeros((17, 3), np.float64)
        found = src[kp[src, 2] > 0]
        coco[mapping[found], :2] = kp[found, :2]
        coco[mapping[found], 2] = 1.0
        results.append({"image_id": int(image_id), "category_id": 1,
                        "keypoints": np.round(coco, 2).ravel().tolist(), "score": float(score)})
    return results
