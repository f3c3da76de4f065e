"""Poses carried onto a frame the network did not run on (``--interval``).

Each visible keypoint of the frame before's poses follows the image by sparse optical
flow on the grey frames (OpenCV's pyramidal Lucas-Kanade, ``cv2.calcOpticalFlowPyrLK``,
from the frame before's grey image to this one). A keypoint whose flow fails (the
flow lost it, it left the frame, or the flow back does not return to it) is dropped
(confidence 0); one that follows keeps
its confidence times :data:`CARRY_DECAY`, once per carried frame, and so does the
person's score. A person box (keypoint heads) moves by the median displacement of the
person's keypoints that followed. When there is no frame before to flow from (a new
camera, a frame size that changed), the keypoints stay where they were, decayed. A
person left with no keypoint is dropped. The carried people keep their track ids and are
marked not inferred (:attr:`~streampose.pose.poses.Poses.inferred`).

:class:`PoseCarry` is one stream's memory for it (the last grey frame and poses), kept
by render, which sees a stream's frames in order. OpenCV is imported on first use.
"""

from __future__ import annotations

import numpy as np

from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton

__all__ = ["CARRY_DECAY", "LK_BACK_PX", "LK_LEVELS", "LK_WINDOW", "PoseCarry", "carry_poses",
           "flow_points", "grey"]

# Confidence (keypoints and person score) kept per carried frame: after N carried frames
# a keypoint has CARRY_DECAY ** N of the confidence the network gave it (0.81 after 2).
CARRY_DECAY = 0.9
LK_WINDOW = 21  # Lucas-Kanade search window, pixels (each pyramid level)
LK_LEVELS = 3  # pyramid levels above the full image: motions up to ~2**3 windows
# A point is followed when the flow back from where it went lands within this many pixels
# of where it started (forward-backward check): a failed or ambiguous flow is dropped.
LK_BACK_PX = 2.0


def grey(frame: np.ndarray) -> np.ndarray:
    """The grey image of a BGR ``uint8`` frame (a new array: the frame may be drawn on)."""
    import cv2

    image: np.ndarray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    return image


def carry_poses(poses: Poses, before: np.ndarray | None, now: np.ndarray, *,
                decay: float = CARRY_DECAY) -> Poses:
    """``poses`` (of the frame whose grey image is ``before``) carried onto the frame
    whose grey image is ``now`` (see the module doc); ``before`` None or of another size:
    the keypoints stay."""
    kp = poses.keypoints
    visible = kp[..., 2] > 0
    points = kp[visible][:, :2]
    if before is None or before.shape != now.shape:
        moved, followed = points, np.ones(len(points), bool)
    else:
        moved, followed = flow_points(before, now, points)
    out = kp.copy()
    out[visible] = np.where(followed[:, None], np.column_stack(
        [moved, kp[visible][:, 2] * decay]), 0.0)
    keep = (out[..., 2] > 0).any(axis=1)
    boxes = _moved_boxes(poses.boxes, kp, out, visible)
    carried = Poses(out, poses.scores * decay, poses.skeleton, poses.track_ids, boxes,
                    np.zeros(len(poses), bool))
    return carried if keep.all() else _select(carried, keep)


def flow_points(before: np.ndarray, now: np.ndarray, points: np.ndarray
                ) -> tuple[np.ndarray, np.ndarray]:
    """``(moved (M, 2), followed (M,) bool)``: ``points`` (M, 2) of the grey image
    ``before`` followed onto ``now`` by pyramidal Lucas-Kanade; a point is followed when
    the flow found it, it lies inside the image, and the flow back lands within
    :data:`LK_BACK_PX` of where it started."""
    if len(points) == 0:
        return points.reshape(0, 2), np.zeros(0, bool)
    start = np.ascontiguousarray(points, np.float32)
    moved, found = _lucas_kanade(before, now, start)
    back, returned = _lucas_kanade(now, before, moved)
    height, width = now.shape[:2]
    inside = ((moved >= 0) & (moved <= [width - 1, height - 1])).all(axis=1)
    close = np.linalg.norm(back - start, axis=1) <= LK_BACK_PX
    return moved, found & returned & inside & close


def _lucas_kanade(before: np.ndarray, now: np.ndarray, points: np.ndarray
                  ) -> tuple[np.ndarray, np.ndarray]:
    """One pass of ``cv2.calcOpticalFlowPyrLK``: (points moved (M, 2), found (M,))."""
    import cv2

    moved, status, _ = cv2.calcOpticalFlowPyrLK(
        before, now, points.reshape(-1, 1, 2), None, winSize=(LK_WINDOW, LK_WINDOW),
        maxLevel=LK_LEVELS, criteria=(cv2.TERM_CRITERIA_EPS | cv2.TERM_CRITERIA_COUNT, 30,
                                      0.01))
    moved = moved.reshape(-1, 2)
    return moved, (status.reshape(-1) == 1) & np.isfinite(moved).all(axis=1)


def _moved_boxes(boxes: np.ndarray | None, before: np.ndarray, after: np.ndarray,
                 visible: np.ndarray) -> np.ndarray | None:
    """Each box shifted by the median displacement of its person's followed keypoints."""
    if boxes is None:
        return None
    shift = np.zeros((len(boxes), 2), np.float32)
    followed = visible & (after[..., 2] > 0)
    for person in np.flatnonzero(followed.any(axis=1)):
        mask = followed[person]
        delta = after[person, mask, :2] - before[person, mask, :2]
        shift[person] = np.median(delta, axis=0)
    return boxes + np.tile(shift, 2)


def _select(poses: Poses, keep: np.ndarray) -> Poses:
    boxes = poses.boxes[keep] if poses.boxes is not None else None
    inferred = poses.inferred[keep] if poses.inferred is not None else None
    return Poses(poses.keypoints[keep], poses.scores[keep], poses.skeleton,
                 poses.track_ids[keep], boxes, inferred)


class PoseCarry:
    """One stream's last frame (grey) and poses, to carry onto a frame not inferred.

    Per frame, in order: ``now = carry.grey(frame)`` (before anything is drawn on it);
    on a frame not inferred ``poses = carry.carried(now)``; then, with the frame's final
    (tracked) poses, ``carry.keep(now, poses)``.
    """

    def __init__(self, *, decay: float = CARRY_DECAY) -> None:
        self.decay = decay
        self._grey: np.ndarray | None = None
        self._poses: Poses | None = None

    def grey(self, frame: np.ndarray) -> np.ndarray:
        return grey(frame)

    def carried(self, now: np.ndarray, skeleton: Skeleton) -> Poses:
        """The last frame's poses carried onto ``now`` (nobody before the first frame)."""
        if self._poses is None:
            return Poses(np.zeros((0, skeleton.num_keypoints, 3), np.float32),
                         np.zeros(0, np.float32), skeleton, inferred=np.zeros(0, bool))
        return carry_poses(self._poses, self._grey, now, decay=self.decay)

    def keep(self, now: np.ndarray, poses: Poses) -> None:
        """Remember this frame's grey image and final poses for the next frame."""
        self._grey, self._poses = now, poses
