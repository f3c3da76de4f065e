"""Poses: the result type, a validated dataclass of numpy arrays."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from streampose.pose.skeleton import Skeleton, get_skeleton

# The default track_ids: a marker replaced by -1 (no track) for every person on construction.
_UNTRACKED = np.empty(0, np.int64)


@dataclass(frozen=True)
class Poses:
    """People found in one image.

    ``keypoints`` is float32 ``(P, K, 3)`` of (x, y, confidence); a missing keypoint is
    (0, 0, 0). ``scores`` is float32 ``(P,)``; ``track_ids`` is int64 ``(P,)``, -1 for
    people without a track. ``boxes`` is float32 ``(P, 4)`` of (x1, y1, x2, y2) when the
    model gives person boxes (one-stage heads), else None; :meth:`person_boxes` gives
    boxes either way (the keypoints' extent when none are stored). ``inferred`` is bool
    ``(P,)``, False for people carried from an earlier frame rather than found by the
    network on this one (``--interval``), or None: all inferred. Shapes and dtypes are
    checked on construction.
    """

    keypoints: np.ndarray
    scores: np.ndarray
    skeleton: Skeleton
    track_ids: np.ndarray = field(default_factory=lambda: _UNTRACKED)
    boxes: np.ndarray | None = None
    inferred: np.ndarray | None = None

    def __post_init__(self) -> None:
        kp = np.asarray(self.keypoints, dtype=np.float32)
        k = self.skeleton.num_keypoints
        if kp.size == 0:
            kp = kp.reshape(0, k, 3)
        if kp.ndim != 3 or kp.shape[1:] != (k, 3):
            raise ValueError(f"keypoints: expected shape (P, {k}, 3), got {kp.shape}")
        p = kp.shape[0]
        scores = _vector("scores", self.scores, p, np.float32)
        ids = self.track_ids
        if ids is None or ids is _UNTRACKED:
            ids = np.full(p, -1, np.int64)
        object.__setattr__(self, "keypoints", kp)
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "track_ids", _vector("track_ids", ids, p, np.int64))
        if self.boxes is not None:
            object.__setattr__(self, "boxes", _boxes(self.boxes, p))
        if self.inferred is not None:
            object.__setattr__(self, "inferred", _vector("inferred", self.inferred, p, np.bool_))

    def __len__(self) -> int:
        return int(self.keypoints.shape[0])

    @classmethod
    def empty(cls, skeleton: Skeleton) -> Poses:
        return cls(np.zeros((0, skeleton.num_keypoints, 3), np.float32),
                   np.zeros(0, np.float32), skeleton)

    def transformed(self, *, scale: tuple[float, float], offset: tuple[float, float]) -> Poses:
        """Map coordinates (keypoints and boxes) by ``x * scale + offset`` per axis;
        missing keypoints stay (0, 0, 0)."""
        kp = self.keypoints.copy()
        present = kp[..., 2] > 0
        kp[..., 0] = np.where(present, kp[..., 0] * scale[0] + offset[0], 0.0)
        kp[..., 1] = np.where(present, kp[..., 1] * scale[1] + offset[1], 0.0)
        boxes = None
        if self.boxes is not None:
            factor = np.array([scale[0], scale[1]] * 2, np.float32)
            boxes = self.boxes * factor + np.array([offset[0], offset[1]] * 2, np.float32)
        return Poses(kp, self.scores, self.skeleton, self.track_ids, boxes, self.inferred)

    def clipped(self, *, width: int, height: int) -> Poses:
        """Keypoints and boxes clamped inside a ``width`` x ``height`` image (pixel centres
        0..size-1)."""
        kp = self.keypoints.copy()
        present = kp[..., 2] > 0
        kp[..., 0] = np.where(present, np.clip(kp[..., 0], 0, width - 1), 0.0)
        kp[..., 1] = np.where(present, np.clip(kp[..., 1], 0, height - 1), 0.0)
        boxes = None
        if self.boxes is not None:
            boxes = np.clip(self.boxes, 0, np.array([width - 1, height - 1] * 2, np.float32))
        return Poses(kp, self.scores, self.skeleton, self.track_ids, boxes, self.inferred)

    def select(self, keep: np.ndarray) -> Poses:
        """The people where the bool ``(P,)`` ``keep`` is True, in order."""
        boxes = None if self.boxes is None else self.boxes[keep]
        inferred = None if self.inferred is None else self.inferred[keep]
        return Poses(self.keypoints[keep], self.scores[keep], self.skeleton,
                     self.track_ids[keep], boxes, inferred)

    def with_track_ids(self, track_ids: np.ndarray) -> Poses:
        return Poses(self.keypoints, self.scores, self.skeleton, track_ids, self.boxes,
                     self.inferred)

    def person_boxes(self) -> np.ndarray:
        """float32 ``(P, 4)`` boxes (x1, y1, x2, y2): the stored :attr:`boxes`, else the
        extent of each person's present keypoints (zeros for a person without any)."""
        if self.boxes is not None:
            return self.boxes
        present = self.keypoints[..., 2] > 0
        xy = self.keypoints[..., :2]
        lo = np.where(present[..., None], xy, np.inf).min(axis=1, initial=np.inf)
        hi = np.where(present[..., None], xy, -np.inf).max(axis=1, initial=-np.inf)
        boxes = np.concatenate([lo, hi], axis=1).astype(np.float32)
        boxes[~present.any(axis=1)] = 0.0
        return boxes

    def to_json(self, *, decimals: int = 2) -> dict[str, Any]:
        """A JSON-ready dict: ``{"skeleton": name, "persons": [{"keypoints", "score", "id"}]}``;
        each person also has ``"box": [x1, y1, x2, y2]`` when the poses carry boxes (models
        that give person boxes), and none otherwise (derive it from the keypoints); a
        person carried from an earlier frame (:attr:`inferred` False) has
        ``"inferred": false``, an inferred one no such key."""
        kp = np.round(self.keypoints.astype(np.float64), decimals).tolist()
        scores = np.round(self.scores.astype(np.float64), 4).tolist()
        persons = [{"keypoints": k, "score": s, "id": int(i)}
                   for k, s, i in zip(kp, scores, self.track_ids.tolist(), strict=True)]
        if self.boxes is not None:
            boxes = np.round(self.boxes.astype(np.float64), decimals).tolist()
            for person, box in zip(persons, boxes, strict=True):
                person["box"] = box
        if self.inferred is not None:
            for person, inferred in zip(persons, self.inferred.tolist(), strict=True):
                if not inferred:
                    person["inferred"] = False
        return {"skeleton": self.skeleton.name, "persons": persons}

    @classmethod
    def from_json(cls, obj: dict[str, Any]) -> Poses:
        skeleton = get_skeleton(obj["skeleton"])
        persons = obj.get("persons", [])
        if not persons:
            return cls.empty(skeleton)
        kp = np.array([p["keypoints"] for p in persons], np.float32)
        scores = np.array([p["score"] for p in persons], np.float32)
        ids = np.array([p.get("id", -1) for p in persons], np.int64)
        boxes = None
        if all("box" in p for p in persons):
            boxes = np.array([p["box"] for p in persons], np.float32)
        inferred = None
        if any("inferred" in p for p in persons):
            inferred = np.array([p.get("inferred", True) for p in persons], np.bool_)
        return cls(kp, scores, skeleton, ids, boxes, inferred)


def _vector(name: str, value: Any, length: int, dtype: type) -> np.ndarray:
    arr: np.ndarray = np.asarray(value, dtype=dtype)
    if arr.shape != (length,):
        raise ValueError(f"{name}: expected shape ({length},), got {arr.shape}")
    return arr


def _boxes(value: Any, length: int) -> np.ndarray:
    arr: np.ndarray = np.asarray(value, dtype=np.float32)
    if arr.size == 0:
        arr = arr.reshape(0, 4)
    if arr.shape != (length, 4):
        raise ValueError(f"boxes: expected shape ({length}, 4) (x1, y1, x2, y2), got {arr.shape}")
    return arr
