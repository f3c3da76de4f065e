"""What a frame shows, for ``--interval auto``: new motion, and how fast people move.

:class:`FrameWatch` is preprocess's per-stream state for the auto interval; for each
frame it makes the :class:`~streampose.planning.interval.FrameView` the
:class:`~streampose.planning.interval.AutoIntervalPolicy` decides on:

- **new motion** (:func:`new_motion`): a :class:`~streampose.regions.motion.MotionDetector`
  runs on every frame of the stream (on a small grey image: cheap next to the network).
  With motion regions (``--motion``) it is the stream's region planner's own detector,
  whose boxes that planner then reuses on the frames inferred; otherwise the watch keeps
  one. Motion pixels outside the boxes of the people render tracks are someone new,
  when there are at least ``new_area`` of them on the small mask (one speck of noise,
  dilated, is fewer). Each box is grown on every side by ``margin`` times its height:
  the boxes are a frame or a few old (render runs behind preprocess), and the running
  average background leaves a fading trail behind a walker; a new person closer than
  that to someone tracked waits for the interval's next inferred frame.
  The tracked people's box displacement alone cannot see a person nobody tracks yet:
  that is why the detector runs even without ``--motion``.
- **speed** (:func:`fastest`): the stream's tracked-boxes board
  (:mod:`streampose.transport.tracked`) is posted by render at every frame, carried
  ones included; two posts ``k`` frames apart are compared, each box of the later post
  with the nearest box (centres) of the earlier one, the displacement divided by the
  box's height and by ``k``; the fastest person counts. A pair farther apart than
  ``gate`` box heights a frame is not the same person (someone came or left). The speed
  is kept until the board is posted again.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from streampose.planning.interval import FrameView
from streampose.regions.motion import MotionDetector, MotionSettings
from streampose.transport.tracked import TrackedBoxes

__all__ = ["FrameWatch", "fastest", "new_motion"]

NEW_AREA = 32  # motion pixels of the small mask outside the tracked boxes: someone new
MARGIN = 0.3  # a tracked box is grown on each side by this much of its height
GATE = 0.5  # box heights a frame: a farther pair is not one person


def new_motion(mask: np.ndarray, tracked: np.ndarray, frame_w: int, frame_h: int, *,
               margin: float = MARGIN, new_area: int = NEW_AREA) -> bool:
    """Whether the motion ``mask`` (small, uint8 0/255, for a ``frame_w`` x ``frame_h``
    frame) has at least ``new_area`` pixels outside every ``tracked`` box (``(n, 4)``
    x1, y1, x2, y2, frame pixels) grown on each side by ``margin`` times its height."""
    outside = mask > 0
    if int(outside.sum()) < new_area:
        return False
    outside = outside.copy()
    sx, sy = mask.shape[1] / frame_w, mask.shape[0] / frame_h
    for x1, y1, x2, y2 in np.asarray(tracked, np.float64).reshape(-1, 4):
        grow = margin * (y2 - y1)
        c1, r1 = max(0, int((x1 - grow) * sx)), max(0, int((y1 - grow) * sy))
        c2, r2 = int(np.ceil((x2 + grow) * sx)), int(np.ceil((y2 + grow) * sy))
        outside[r1:r2, c1:c2] = False
    return int(outside.sum()) >= new_area


def fastest(before: np.ndarray, after: np.ndarray, frames: int, *,
            gate: float = GATE) -> float | None:
    """The fastest displacement per frame, in box heights, of ``after``'s boxes from
    their partners in ``before``, ``frames`` frames earlier (``(n, 4)`` x1, y1, x2, y2);
    None when no box has a partner. A box's partner is the nearest by centre, within
    ``gate`` box heights a frame. The displacement is the shift both edges of a side
    agree on (:func:`_shift`): a box that grows or shrinks on one side (a keypoint
    found or lost, a carried pose keeps fewer) has not moved."""
    before = np.asarray(before, np.float64).reshape(-1, 4)
    after = np.asarray(after, np.float64).reshape(-1, 4)
    if not len(before) or not len(after) or frames <= 0:
        return None
    centres_a = (after[:, :2] + after[:, 2:]) / 2
    centres_b = (before[:, :2] + before[:, 2:]) / 2
    partner = np.linalg.norm(centres_a[:, None] - centres_b[None], axis=2).argmin(axis=1)
    paired = before[partner]
    heights = np.maximum(np.maximum(after[:, 3] - after[:, 1], paired[:, 3] - paired[:, 1]),
                         1.0)
    near = np.linalg.norm(centres_a - centres_b[partner], axis=1) / heights / frames <= gate
    if not near.any():
        return None
    moved = after[near] - paired[near]
    shift = np.hypot(_shift(moved[:, 0], moved[:, 2]), _shift(moved[:, 1], moved[:, 3]))
    return float((shift / heights[near] / frames).max())


def _shift(low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """The shift both edges of a side made (the smaller, where they moved the same way;
    0 where they did not)."""
    same = np.sign(low) == np.sign(high)
    return np.where(same, np.minimum(np.abs(low), np.abs(high)), 0.0)


class _Seen:
    """One stream's last board post read, and the speed it gave."""

    def __init__(self) -> None:
        self.sequence = 0
        self.boxes = np.zeros((0, 4))
        self.speed: float | None = None


class FrameWatch:
    """Per stream (``boards``: its tracked-boxes board, None: a stream not watched): the
    :class:`FrameView` of each frame. ``detectors``: a stream's motion detector to use
    (its region planner's, ``--motion``), None for one of the watch's own."""

    def __init__(self, *, boards: Sequence[TrackedBoxes | None], settings: MotionSettings,
                 detectors: Sequence[MotionDetector | None] = ()) -> None:
        self.boards = list(boards)
        given = list(detectors) + [None] * (len(self.boards) - len(detectors))
        self.detectors = [d if d is not None or b is None else MotionDetector(settings=settings)
                          for d, b in zip(given, self.boards, strict=True)]
        self._seen = [_Seen() for _ in self.boards]
        self._motion: list[np.ndarray | None] = [None] * len(self.boards)

    def watches(self, stream: int) -> bool:
        return stream < len(self.boards) and self.boards[stream] is not None

    def view(self, stream: int, frame: np.ndarray) -> FrameView:
        """What ``stream``'s next ``frame`` shows (every frame of it must pass here, in
        order: its motion detector sees them all)."""
        detector, board = self.detectors[stream], self.boards[stream]
        assert detector is not None and board is not None, f"stream {stream} not watched"
        self._motion[stream] = detector.detect(frame)
        sequence, tracked = board.latest()
        seen = self._seen[stream]
        if sequence != seen.sequence:
            seen.speed = fastest(seen.boxes, tracked, sequence - seen.sequence)
            seen.sequence, seen.boxes = sequence, tracked
        mask = detector.mask
        moved = (mask is not None and not detector.restarted
                 and new_motion(mask, tracked, frame.shape[1], frame.shape[0]))
        return FrameView(new_motion=moved, speed=seen.speed)

    def motion(self, stream: int) -> np.ndarray | None:
        """The motion boxes found on ``stream``'s last frame (None: not watched)."""
        return self._motion[stream] if self.watches(stream) else None

    def restart(self, stream: int) -> None:
        """A new camera in the seat: a new background, no speed."""
        detector = self.detectors[stream]
        if detector is not None:
            detector.reset()
        self._seen[stream] = _Seen()
