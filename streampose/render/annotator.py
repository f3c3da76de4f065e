"""What an annotator is, and the argument checks and keypoint tests they share.

An annotator draws ``poses`` on a BGR ``uint8`` scene in place and returns it; an empty
``Poses`` leaves the scene untouched. A keypoint is *visible* when its confidence is above
``min_confidence`` (and above 0: a missing keypoint is (0, 0, 0)); nothing is drawn for
invisible keypoints. See ARCHITECTURE.md for where the render stage runs them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from streampose.errors import ConfigError
from streampose.pose.poses import Poses

__all__ = ["Annotator", "check_confidence", "check_positive", "check_thickness",
           "line_thickness", "visible_keypoints"]


class Annotator(Protocol):
    """Anything that draws ``poses`` on a BGR ``scene`` in place and returns it."""

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray: ...


def check_confidence(owner: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise ConfigError(f"{owner}: min_confidence = {value!r} must be a number >= 0")
    return float(value)


def check_thickness(owner: str, value: int | None) -> None:
    if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                              or not 1 <= value <= 100):
        raise ConfigError(f"{owner}: thickness = {value!r} must be None or an integer in 1..100")


def check_positive(owner: str, name: str, value: float | None, high: float) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= high:
        raise ConfigError(f"{owner}: {name} = {value!r} must be a number in (0, {high}]")


def visible_keypoints(poses: Poses, min_confidence: float) -> np.ndarray:
    """``(P, K)`` bool: keypoints worth drawing."""
    conf = poses.keypoints[..., 2]
    return (conf > min_confidence) & (conf > 0)


def line_thickness(scene: np.ndarray, thickness: int | None) -> int:
    """``thickness`` if given, else about 1 px per 240 px of the shorter frame side."""
    return thickness or max(1, round(min(scene.shape[:2]) / 240))
