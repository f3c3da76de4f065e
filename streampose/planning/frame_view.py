"""What a frame shows, for ``--interval auto``: new motion, and how fast people move.

:class:`FrameWatch` is preprocess's per-stream state for the auto interval; for each
frame it makes the :class:`~streampose.planning.interval.FrameView` the
:class:`~streampose.planning.interval.AutoIntervalPolicy` decides on:

- **new motion** (:func:`new_motion`): a :class:`~streampose.regions.motion.MotionDetector`
  runs on every frame of the stream (on a small grey image: cheap next to the network).
  With motion regions (``--motion``) it is the stream's region planner's own detector,
  whose boxes that planner then reuses on the frames inferred; otherwise the watch
  keeps one (the tracked people's boxes alone cannot see a person nobody tracks yet).
  A moving blob is someone new when it touches none of the boxes of the people render
  tracks, nor any blob of the stream's last inferred frame (there the network has had
  its look: a mover it does not take for a person, a car, a flag, is not new again on
  every frame), and covers at least ``NEW_AREA`` pixels of the small motion mask (a
  speck of noise is smaller). Whole blobs, not pixels: a walker's blob is wider than
  their keypoints' box (the silhouette, the shadow, the fading trail the
  running-average background leaves behind them). Each box is grown on every side by
  ``MARGIN`` times its height: the tracked boxes are a frame or a few old (render runs
  behind preprocess). A new person whose blob joins a tracked person's waits for the
  interval's next inferred frame (at most ``interval_max`` frames).
- **speed** (:func:`fastest`): the stream's tracked-boxes board
  (:mod:`streampose.transport.tracked`) is posted by render at every frame, carried
  ones included; two posts ``k`` frames apart are compared, each box of the later post
  with the nearest box (centres) of the earlier one, the displacement divided by the
  box's height and by ``k``; the fastest person counts. A pair farther apart than
  ``gate`` box heights a frame is not the same person (someone came or left). Keypoint
  boxes jitter (a keypoint found on one frame, lost on the next): the speed used is the
  median of the last ``SMOOTH`` measures, kept until the board is posted again.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence

import numpy as np

from streampose.planning.interval import FrameView
from streampose.regions.motion import MotionDetector, MotionSettings
from streampose.transport.tracked import TrackedBoxes

__all__ = ["FrameWatch", "fastest", "new_motion"]

NEW_AREA = 32  # pixels of the small motion mask: the least blob that is someone new
MARGIN = 0.3  # a tracked box is grown on each side by this much of its height
GATE = 0.5  # box heights a frame: a farther pair is not one person
SMOOTH = 3  # the speed: the median of this many measures


def new_motion(motion: np.ndarray, tracked: np.ndarray, *, least_area: float,
               margin: float = MARGIN) -> bool:
    """Whether a ``motion`` box (``(m, 4)`` x1, y1, x2, y2, frame pixels, as
    :meth:`MotionDetector.detect` gives them) of at least ``least_area`` square pixels
    touches no ``tracked`` box grown on each side by ``margin`` times its height."""
    motion = np.asarray(motion, np.float64).reshape(-1, 4)
    motion = motion[(motion[:, 2] - motion[:, 0]) * (motion[:, 3] - motion[:, 1])
                    >= least_area]
    if not len(motion):
        return False
    tracked = np.asarray(tracked, np.float64).reshape(-1, 4)
    if not len(tracked):
        return True
    grow = margin * (tracked[:, 3] - tracked[:, 1])
    grown = tracked + np.stack([-grow, -grow, grow, grow], axis=1)
    m, g = motion[:, None], grown[None]
    touches = ((m[..., 0] < g[..., 2]) & (g[..., 0] < m[..., 2])
               & (m[..., 1] < g[..., 3]) & (g[..., 1] < m[..., 3]))
    return bool((~touches.any(axis=1)).any())


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
    """One stream's last board post read, and the last speeds measured."""

    def __init__(self) -> None:
        self.sequence = 0
        self.boxes = np.zeros((0, 4))
        self.speeds: deque[float] = deque(maxlen=SMOOTH)

    def measure(self, sequence: int, boxes: np.ndarray) -> None:
        """A new post: its speed against the last one."""
        speed = fastest(self.boxes, boxes, sequence - self.sequence)
        if speed is not None:
            self.speeds.append(speed)
        self.sequence, self.boxes = sequence, boxes

    @property
    def speed(self) -> float | None:
        """The median of the last speeds (None: none measured)."""
        return float(np.median(self.speeds)) if self.speeds else None


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
        self._known = [np.zeros((0, 4)) for _ in self.boards]

    def watches(self, stream: int) -> bool:
        return stream < len(self.boards) and self.boards[stream] is not None

    def view(self, stream: int, frame: np.ndarray) -> FrameView:
        """What ``stream``'s next ``frame`` shows (every frame of it must pass here, in
        order: its motion detector sees them all)."""
        detector, board = self.detectors[stream], self.boards[stream]
        assert detector is not None and board is not None, f"stream {stream} not watched"
        motion = self._motion[stream] = detector.detect(frame)
        sequence, tracked = board.latest()
        seen = self._seen[stream]
        if sequence != seen.sequence:
            seen.measure(sequence, tracked)
        mask = detector.mask
        pixel = frame.shape[1] / mask.shape[1] if mask is not None else 1.0
        moved = new_motion(motion, np.concatenate([tracked, self._known[stream]]),
                           least_area=NEW_AREA * pixel * pixel)
        return FrameView(new_motion=moved, speed=seen.speed)

    def inferred(self, stream: int) -> None:
        """``stream``'s last frame is inferred: its blobs are no longer new."""
        known = self._motion[stream]
        self._known[stream] = known if known is not None else np.zeros((0, 4))

    def motion(self, stream: int) -> np.ndarray | None:
        """The motion boxes found on ``stream``'s last frame (None: not watched)."""
        return self._motion[stream] if self.watches(stream) else None

    def restart(self, stream: int) -> None:
        """A new camera in the seat: a new background, no speed."""
        detector = self.detectors[stream]
        if detector is not None:
            detector.reset()
        self._seen[stream] = _Seen()
        self._known[stream] = np.zeros((0, 4))
