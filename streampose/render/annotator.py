"""What an annotator is, and the argument checks and keypoint tests they share.

An annotator draws ``poses`` on a BGR ``uint8`` scene in place and returns it; an empty
``Poses`` leaves the scene untouched. A keypoint is *visible* when its confidence is above
``min_confidence`` (and above 0: a missing keypoint is (0, 0, 0)); nothing is drawn for
invisible keypoints. A person is *drawn* when its score is at least ``min_score`` and it
has at least ``min_keypoints`` visible keypoints (:func:`drawn_people`): the outputs keep
every person, only the picture leaves the doubtful ones out. Line sizes follow each
person's height in frame pixels (:func:`person_thickness`), so small people stay legible.
See ARCHITECTURE.md for where the render stage runs them.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np

from streampose.errors import ConfigError
from streampose.pose.poses import Poses

__all__ = ["PX_PER_THICKNESS", "Annotator", "check_confidence", "check_count",
           "check_positive", "check_thickness", "drawn_people", "line_thickness",
           "person_heights", "person_thickness", "visible_keypoints"]

PX_PER_THICKNESS = 40  # 1 px of line per 40 px of person height (a 50 px person: 1 px)


class Annotator(Protocol):
    """Anything that draws ``poses`` on a BGR ``scene`` in place and returns it."""

    def annotate(self, scene: np.ndarray, poses: Poses) -> np.ndarray: ...


def check_confidence(owner: str, value: float, name: str = "min_confidence") -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not 0 <= value < 1e6:
        raise ConfigError(f"{owner}: {name} = {value!r} must be a number >= 0")
    return float(value)


def check_count(owner: str, name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 1000:
        raise ConfigError(f"{owner}: {name} = {value!r} must be an integer in 0..1000")
    return value


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


def drawn_people(poses: Poses, *, min_confidence: float, min_score: float,
                 min_keypoints: int) -> np.ndarray:
    """``(P,)`` bool: people worth drawing, whose score is at least ``min_score`` and who
    have at least ``min_keypoints`` visible keypoints."""
    found = visible_keypoints(poses, min_confidence).sum(axis=1)
    return np.asarray((poses.scores >= min_score) & (found >= min_keypoints))


def person_heights(poses: Poses, min_confidence: float) -> np.ndarray:
    """``(P,)`` float: each person's height in pixels, that of its stored box
    (:attr:`Poses.boxes`) or else of its visible keypoints' extent (0 without any)."""
    if poses.boxes is not None:
        return np.asarray(poses.boxes[:, 3] - poses.boxes[:, 1], np.float64)
    ok = visible_keypoints(poses, min_confidence)
    y = poses.keypoints[..., 1].astype(np.float64)
    top = np.where(ok, y, np.inf).min(axis=1)
    bottom = np.where(ok, y, -np.inf).max(axis=1)
    return np.where(ok.any(axis=1), bottom - top, 0.0)


def person_thickness(scene: np.ndarray, poses: Poses, *, min_confidence: float,
                     thickness: int | None) -> np.ndarray:
    """``(P,)`` int line thickness per person: ``thickness`` if given, else about 1 px per
    :data:`PX_PER_THICKNESS` px of the person's height, at least 1 and at most the frame's
    size (:func:`line_thickness`), so people tall enough are drawn as the frame says."""
    if thickness is not None:
        return np.full(len(poses), thickness, np.int64)
    cap = line_thickness(scene, None)
    scaled = np.round(person_heights(poses, min_confidence) / PX_PER_THICKNESS)
    return np.clip(scaled, 1, cap).astype(np.int64)
