"""Synthetic tracked people for the event tests: keypoints from a few body parameters.

Angles are degrees from straight up (0), clockwise on screen (90 points right, 180
down). A body of standing ``height`` h: torso 0.3 h from the hip midpoint to the neck,
head 0.12 h beyond the neck, shoulders and hips 0.2 h and 0.1 h wide across the torso,
thighs and shins 0.25 h each. Standing: torso 0, thighs and shins 180.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streampose.outputs.base import FrameMeta
from streampose.pose import COCO18, Poses

SKELETON = COCO18
FPS = 10.0


@dataclass(frozen=True)
class Body:
    """Where a person is and how they hold themselves."""

    hip: tuple[float, float]
    torso: float = 0.0
    thigh: float = 180.0
    shin: float = 180.0
    height: float = 200.0


def _step(p: tuple[float, float], angle: float, length: float) -> tuple[float, float]:
    r = math.radians(angle)
    return p[0] + length * math.sin(r), p[1] - length * math.cos(r)


def keypoints(body: Body) -> np.ndarray:
    """``(18, 3)`` COCO-18 keypoints of ``body`` (confidence 0.9 each)."""
    h, hip = body.height, body.hip
    neck = _step(hip, body.torso, 0.3 * h)
    head = _step(neck, body.torso, 0.12 * h)
    across = body.torso + 90
    points = {
        "neck": neck, "nose": head, "right_eye": head, "left_eye": head,
        "right_ear": head, "left_ear": head,
        "right_shoulder": _step(neck, across, -0.1 * h),
        "left_shoulder": _step(neck, across, 0.1 * h),
        "right_hip": _step(hip, across, -0.05 * h), "left_hip": _step(hip, across, 0.05 * h),
    }
    for side, sign in (("right", -1), ("left", 1)):
        points[f"{side}_elbow"] = _step(points[f"{side}_shoulder"], body.torso + 180, 0.15 * h)
        points[f"{side}_wrist"] = _step(points[f"{side}_elbow"], body.torso + 180, 0.15 * h)
        base = _step(hip, across, sign * 0.05 * h)
        points[f"{side}_knee"] = _step(base, body.thigh, 0.25 * h)
        points[f"{side}_ankle"] = _step(points[f"{side}_knee"], body.shin, 0.25 * h)
    out = np.zeros((SKELETON.num_keypoints, 3), np.float32)
    for i, name in enumerate(SKELETON.keypoints):
        out[i] = (*points[name], 0.9)
    return out


def at(x: float, y: float) -> Body:
    """A standing person whose hip midpoint is at (x, y)."""
    return Body(hip=(x, y))


def poses(people: dict[int, Body]) -> Poses:
    """One frame: ``{track_id: body}``."""
    if not people:
        return Poses.empty(SKELETON)
    kp = np.stack([keypoints(b) for b in people.values()])
    return Poses(kp, np.ones(len(people), np.float32), SKELETON,
                 track_ids=np.array(list(people), np.int64))


def meta(frame: int, fps: float = FPS) -> FrameMeta:
    return FrameMeta(stream=0, frame=frame, pts=frame, pts_s=frame / fps,
                     wall=1_700_000_000.0 + frame / fps, image_id=frame)


def path(points: Sequence[tuple[float, float]]) -> list[Body]:
    """Standing bodies at each hip point."""
    return [at(x, y) for x, y in points]


def interpolate(keyframes: Sequence[tuple[float, Body]], fps: float = FPS) -> list[Body]:
    """Bodies every 1/fps s, linearly between ``(time_s, body)`` keyframes."""
    out = []
    for (t0, b0), (t1, b1) in itertools.pairwise(keyframes):
        steps = max(1, round((t1 - t0) * fps))
        for i in range(steps):
            f = i / steps
            out.append(Body(hip=(b0.hip[0] + f * (b1.hip[0] - b0.hip[0]),
                                 b0.hip[1] + f * (b1.hip[1] - b0.hip[1])),
                            torso=b0.torso + f * (b1.torso - b0.torso),
                            thigh=b0.thigh + f * (b1.thigh - b0.thigh),
                            shin=b0.shin + f * (b1.shin - b0.shin),
                            height=b0.height + f * (b1.height - b0.height)))
    out.append(keyframes[-1][1])
    return out
