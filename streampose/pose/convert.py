"""Poses of one skeleton as poses of another: keypoints matched by name, a few derived.

Every registered layout names its keypoints alike (``nose``, ``left_shoulder`` ...), so a
target keypoint is copied from the source keypoint of the same name. A target keypoint
the source lacks may be derived from two source keypoints (:data:`DERIVED`):

- ``neck``: the midpoint of ``left_shoulder`` and ``right_shoulder``;
- ``mid_hip``: the midpoint of ``left_hip`` and ``right_hip``.

A derived keypoint is present when both of its inputs are, with the smaller of their two
confidences; otherwise it is missing (0, 0, 0). Source keypoints the target does not name
are dropped (COCO-18's neck in COCO-17). A conversion is *known* when every target
keypoint is copied or derived; among the registered layouts:

======== ============================================================
source   known targets
======== ============================================================
coco17   coco17, coco18 (neck derived)
coco18   coco17 (neck dropped), coco18
body25   coco17, coco18 (mid hip, feet dropped), body25
======== ============================================================

COCO-17 and COCO-18 have no feet, so neither converts to BODY-25: :func:`convert` raises
ValueError naming both skeletons and the keypoints that cannot be made. Scores and track
ids are kept.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np

from streampose.pose.poses import Poses
from streampose.pose.skeleton import SKELETONS, Skeleton

__all__ = ["DERIVED", "Conversion", "can_convert", "conversion", "convert"]

# Keypoints made from two others (their midpoint) when the source skeleton lacks them.
DERIVED: dict[str, tuple[str, str]] = {
    "neck": ("left_shoulder", "right_shoulder"),
    "mid_hip": ("left_hip", "right_hip"),
}


@dataclass(frozen=True)
class Conversion:
    """How to build ``target`` keypoints from ``source`` ones.

    ``copy_from[t]`` is the source index of target keypoint ``t``, -1 when it is derived;
    ``derived`` lists ``(target index, source a, source b)`` midpoints.
    """

    source: Skeleton
    target: Skeleton
    copy_from: tuple[int, ...]
    derived: tuple[tuple[int, int, int], ...]

    def apply(self, keypoints: np.ndarray) -> np.ndarray:
        """``(P, K_target, 3)`` float32 keypoints from ``(P, K_source, 3)`` ones."""
        src = np.asarray(keypoints, np.float32)
        out = np.zeros((src.shape[0], self.target.num_keypoints, 3), np.float32)
        copy_from = np.asarray(self.copy_from, np.int64)
        copied = np.flatnonzero(copy_from >= 0)
        out[:, copied] = src[:, copy_from[copied]]
        for t, a, b in self.derived:
            out[:, t] = _midpoint(src[:, a], src[:, b])
        return out


def _midpoint(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``(P, 3)``: the midpoint of two ``(P, 3)`` keypoints, confidence the smaller one;
    (0, 0, 0) where either is missing."""
    present = (a[:, 2] > 0) & (b[:, 2] > 0)
    mid = np.empty_like(a)
    mid[:, :2] = (a[:, :2] + b[:, :2]) / 2
    mid[:, 2] = np.minimum(a[:, 2], b[:, 2])
    mid[~present] = 0.0
    return mid


@functools.lru_cache(maxsize=32)
def conversion(source: Skeleton, target: Skeleton) -> Conversion:
    """The conversion from ``source`` to ``target``, or ValueError when none is known."""
    copy_from: list[int] = []
    derived: list[tuple[int, int, int]] = []
    missing: list[str] = []
    for t, name in enumerate(target.keypoints):
        s = source.index(name)
        copy_from.append(s)
        if s >= 0:
            continue
        a, b = (source.index(n) for n in DERIVED.get(name, ("", "")))
        if a >= 0 and b >= 0:
            derived.append((t, a, b))
        else:
            missing.append(name)
    if missing:
        known = ", ".join(n for n, s in SKELETONS.items() if _known(source, s)) or "none"
        raise ValueError(f"no conversion from skeleton {source.name!r} to {target.name!r}: "
                         f"{source.name} cannot give {', '.join(missing)} "
                         f"(registered skeletons {source.name} converts to: {known})")
    return Conversion(source, target, tuple(copy_from), tuple(derived))


def _known(source: Skeleton, target: Skeleton) -> bool:
    return all(source.index(name) >= 0
               or all(source.index(n) >= 0 for n in DERIVED.get(name, ("", "")))
               for name in target.keypoints)


def can_convert(source: Skeleton, target: Skeleton) -> bool:
    """Whether :func:`convert` knows how to turn ``source`` poses into ``target`` ones."""
    return _known(source, target)


def convert(poses: Poses, target: Skeleton) -> Poses:
    """``poses`` as ``target`` poses (the same object when already); ValueError when no
    conversion is known (see the module docstring)."""
    if poses.skeleton is target or poses.skeleton == target:
        return poses
    keypoints = conversion(poses.skeleton, target).apply(poses.keypoints)
    return Poses(keypoints, poses.scores, target, poses.track_ids)
