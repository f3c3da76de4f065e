"""Anchors: the one point of a person that a rule follows (hip midpoint by default).

``hips``: the midpoint of the hips (one hip when only one is found), else the neck,
else the midpoint of the shoulders;
``pelvis``: the same without the fallback;
``neck``: the neck keypoint (COCO-18, BODY-25), else the midpoint of the shoulders
(COCO-17 has no neck); ``ankles``: the midpoint of the ankles, else the hips; any other
name is a keypoint of the model's skeleton (``nose``, ``left_ankle`` ...). A keypoint
counts when its confidence is above 0.
"""

from __future__ import annotations

from collections.abc import Sequence

from streampose.errors import ConfigError
from streampose.events.geometry import Point
from streampose.pose.skeleton import Skeleton

__all__ = ["GENERIC", "Anchor", "Keypoints", "midpoint"]

GENERIC = ("hips", "pelvis", "neck", "ankles")

# Each generic anchor: keypoint names whose midpoint it is, tried in order.
_CHAINS: dict[str, tuple[tuple[str, ...], ...]] = {
    "hips": (("left_hip", "right_hip"), ("neck",), ("left_shoulder", "right_shoulder")),
    "pelvis": (("left_hip", "right_hip"),),
    "neck": (("neck",), ("left_shoulder", "right_shoulder")),
    "ankles": (("left_ankle", "right_ankle"), ("left_hip", "right_hip")),
}

Keypoints = Sequence[Sequence[float]]  # one person's K x (x, y, confidence)


class Anchor:
    """``anchor(keypoints)``: the point of one person's K x (x, y, confidence) keypoints
    (a list of lists is fastest; a ``(K, 3)`` array works too), or None."""

    def __init__(self, name: str, skeleton: Skeleton) -> None:
        self.name = name
        index = {kp: i for i, kp in enumerate(skeleton.keypoints)}
        if name in _CHAINS:
            chain = [tuple(index[k] for k in group if k in index) for group in _CHAINS[name]]
            self._chain = [group for group in chain if group]
        elif name in index:
            self._chain = [(index[name],)]
        else:
            raise ConfigError(f"anchor {name!r}: not one of {', '.join(GENERIC)} nor a "
                              f"keypoint of the {skeleton.name} skeleton "
                              f"({', '.join(skeleton.keypoints)})")

    def __call__(self, keypoints: Keypoints) -> Point | None:
        for group in self._chain:
            point = midpoint(keypoints, group)
            if point is not None:
                return point
        return None


def midpoint(keypoints: Keypoints, indices: tuple[int, ...]) -> Point | None:
    """Mean position of the found keypoints among ``indices``; None if none is found.
    (Plain Python: a handful of numbers is faster so than through numpy.)"""
    sum_x = sum_y = 0.0
    found = 0
    for i in indices:
        x, y, confidence = keypoints[i]
        if confidence > 0:
            sum_x, sum_y, found = sum_x + x, sum_y + y, found + 1
    if not found:
        return None
    return float(sum_x / found), float(sum_y / found)
