"""PoseTracker: stable ids for the people of one video stream, frame after frame.

Each track keeps the last known position of every keypoint and one velocity (pixels per
frame) shared by all its keypoints. Every frame, tracks are first moved along their
velocity (constant-velocity prediction), then detections are matched to the predicted
poses by an OKS-style similarity, greedily, highest similarity first:

    sim(det, track) = sum over keypoints present in both of exp(-d² / (2 (sigma·s)²))
                      / number of keypoints present in either

where ``d`` is the distance between the detected and the predicted keypoint and ``s`` the
person's scale: the square root of the larger of the two keypoint bounding-box areas, at
least ``min_scale`` pixels. Dividing by the union rather than the common keypoints makes a
fragment (an arm the decoder split off a person) score low against that person's track,
so it cannot steal the track from the full detection.

A matched track takes the detected keypoints (those missing from the detection keep their
predicted place, for up to ``max_age`` frames) and smooths its velocity with the residual
of the prediction; an unmatched track coasts on its velocity for up to ``max_age`` frames,
then is dropped. Unmatched detections start new tracks; ids come from a counter that starts
at 0 and is never rewound (except by :meth:`PoseTracker.reset`).

The state is a handful of arrays sized by the live tracks, so memory stays flat on endless
streams, and one frame costs O(people x tracks x keypoints), vectorised.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np

from streampose.config.sections import TrackingConfig
from streampose.pose.poses import Poses

logger = logging.getLogger(__name__)


@dataclass
class _Tracks:
    """Live tracks, one row each, in creation order (older first: ties go to them)."""

    positions: np.ndarray  # (T, K, 2) float64, last known or predicted keypoint positions
    ages: np.ndarray  # (T, K) int64, frames since each keypoint was seen; -1: never
    velocity: np.ndarray  # (T, 2) float64, smoothed pixels per frame
    misses: np.ndarray  # (T,) int64, frames since the last match
    hits: np.ndarray  # (T,) int64, matches so far (the first detection counts)
    ids: np.ndarray  # (T,) int64, public id; -1 while tentative (hits < min_hits)

    @classmethod
    def empty(cls, num_keypoints: int) -> _Tracks:
        return cls(np.zeros((0, num_keypoints, 2)), np.zeros((0, num_keypoints), np.int64),
                   np.zeros((0, 2)), *(np.zeros(0, np.int64) for _ in range(3)))

    def __len__(self) -> int:
        return int(self.ids.shape[0])

    @property
    def known(self) -> np.ndarray:
        """(T, K) bool: keypoints the track still remembers."""
        return self.ages >= 0

    def select(self, keep: np.ndarray) -> _Tracks:
        return _Tracks(*(getattr(self, name)[keep] for name in _FIELDS))

    def extend(self, other: _Tracks) -> _Tracks:
        return _Tracks(*(np.concatenate([getattr(self, n), getattr(other, n)]) for n in _FIELDS))


_FIELDS = ("positions", "ages", "velocity", "misses", "hits", "ids")


class PoseTracker:
    """Assigns track ids to the people of one stream: ``poses = tracker.update(poses)``.

    Call :meth:`update` once per frame, in order, with every frame (an empty ``Poses``
    when nobody was found), so that missed frames count towards ``max_age``.

    - ``max_age``: frames an unmatched track survives, coasting on its velocity (>= 0).
    - ``min_similarity``: least similarity of a detection to a track for a match, (0, 1].
    - ``min_hits``: matches before a track gets an id (>= 1); until then its people have
      id -1 and one missed frame ends it.
    - ``sigma``: similarity fall-off as a fraction of the person's scale: a keypoint
      ``sigma * scale`` away from its prediction scores exp(-1/2) (> 0).
    - ``min_scale``: least person scale in pixels, for people with few keypoints (> 0).
    - ``velocity_smoothing``: weight of the previous velocity when a new displacement is
      measured, [0, 1): 0 trusts the last displacement alone.
    """

    @classmethod
    def from_config(cls, section: TrackingConfig) -> PoseTracker:
        """A tracker with the parameters of a ``[tracking]`` section."""
        return cls(max_age=section.max_age, min_similarity=section.min_similarity,
                   min_hits=section.min_hits, sigma=section.sigma, min_scale=section.min_scale,
                   velocity_smoothing=section.velocity_smoothing)

    def __init__(self, *, max_age: int = 15, min_similarity: float = 0.2, min_hits: int = 1,
                 sigma: float = 0.25, min_scale: float = 32.0,
                 velocity_smoothing: float = 0.5) -> None:
        _check_int("max_age", max_age, 0)
        _check_int("min_hits", min_hits, 1)
        _check_range("min_similarity", min_similarity, 0.0, 1.0, "(0, 1]")
        _check_range("sigma", sigma, 0.0, np.inf, "(0, inf)")
        _check_range("min_scale", min_scale, 0.0, np.inf, "(0, inf)")
        _check_range("velocity_smoothing", velocity_smoothing, 0.0, 1.0, "[0, 1)",
                     closed_low=True)
        self.max_age = max_age
        self.min_similarity = float(min_similarity)
        self.min_hits = min_hits
        self.sigma = float(sigma)
        self.min_scale = float(min_scale)
        self.velocity_smoothing = float(velocity_smoothing)
        self.reset()

    def reset(self) -> None:
        """Forget every track and restart ids at 0, as a new tracker (e.g. a new stream)."""
        self._tracks: _Tracks | None = None
        self._next_id = 0

    @property
    def num_tracks(self) -> int:
        """Live tracks, tentative and coasting ones included."""
        return 0 if self._tracks is None else len(self._tracks)

    def boxes(self) -> np.ndarray:
        """float64 ``(T, 4)`` boxes (x1, y1, x2, y2) of every live track (tentative and
        coasting ones included): the extent of the keypoint positions it remembers (its
        last known or predicted ones); a track that remembers none is left out."""
        tracks = self._tracks
        if tracks is None or not len(tracks):
            return np.zeros((0, 4))
        known = tracks.known
        lo = np.where(known[..., None], tracks.positions, np.inf).min(axis=1)
        hi = np.where(known[..., None], tracks.positions, -np.inf).max(axis=1)
        keep = known.any(axis=1)
        return np.concatenate([lo, hi], axis=1)[keep]

    def update(self, poses: Poses) -> Poses:
        """The same people in the same order, with ``track_ids`` set.

        The id is -1 for a person on a tentative track (fewer than ``min_hits`` matches)
        and for one without any keypoint.
        """
        tracks = self._tracks_for(poses)
        _predict(tracks)
        xy, present = _detections(poses)
        fit, coverage = self._similarity(xy, present, tracks)
        det, trk = _greedy_pairs(coverage, fit >= self.min_similarity)
        self._correct(tracks, det, trk, xy, present)
        rows = np.full(len(poses), -1, np.int64)
        rows[det] = trk
        tracks, rows = self._spawn(tracks, rows, xy, present)
        tracks = self._confirm(tracks)
        self._tracks, rows = self._prune(tracks, rows)
        ids = np.full(len(poses), -1, np.int64)
        ids[rows >= 0] = self._tracks.ids[rows[rows >= 0]]
        return poses.with_track_ids(ids)

    def _tracks_for(self, poses: Poses) -> _Tracks:
        k = poses.skeleton.num_keypoints
        if self._tracks is None:
            self._tracks = _Tracks.empty(k)
        elif self._tracks.positions.shape[1] != k:
            raise ValueError(f"poses: {k} keypoints per person, but the tracks have "
                             f"{self._tracks.positions.shape[1]}; call reset() for a new layout")
        return self._tracks

    def _similarity(self, xy: np.ndarray, present: np.ndarray,
                    tracks: _Tracks) -> tuple[np.ndarray, np.ndarray]:
        """(D, T) similarities: mean over the shared keypoints (does the detection fit the
        track where both have keypoints?) and the same sum over the union of keypoints
        (how much of the person does the pair explain?)."""
        known = tracks.known
        area = np.maximum(_box_area(xy, present)[:, None], _box_area(tracks.positions, known))
        spread = 2.0 * self.sigma**2 * np.maximum(area, self.min_scale**2)
        closeness = _squared_distances(xy, tracks.positions)
        closeness /= -spread[..., None]
        np.exp(closeness, out=closeness)
        closeness *= present[:, None, :]
        closeness *= known[None, :, :]
        total = closeness.sum(axis=-1)
        shared, union = _overlap_counts(present, known)
        return total / np.maximum(shared, 1.0), total / np.maximum(union, 1.0)

    def _correct(self, tracks: _Tracks, det: np.ndarray, trk: np.ndarray, xy: np.ndarray,
                 present: np.ndarray) -> None:
        """Matched tracks take the detected keypoints and update their velocity."""
        seen = present[det]
        common = seen & tracks.known[trk]
        residual = np.where(common[..., None], xy[det] - tracks.positions[trk], 0.0)
        residual = residual.sum(axis=1) / np.maximum(common.sum(axis=1), 1)[:, None]
        gap = tracks.misses[trk][:, None]
        tracks.velocity[trk] += (1.0 - self.velocity_smoothing) * residual / gap
        tracks.positions[trk] = np.where(seen[..., None], xy[det], tracks.positions[trk])
        tracks.ages[trk] = np.where(seen, 0, tracks.ages[trk])
        tracks.misses[trk] = 0
        tracks.hits[trk] += 1

    def _spawn(self, tracks: _Tracks, rows: np.ndarray, xy: np.ndarray,
               present: np.ndarray) -> tuple[_Tracks, np.ndarray]:
        """A new track per unmatched detection with keypoints, in detection order."""
        new = np.flatnonzero((rows < 0) & present.any(axis=1))
        if new.size == 0:
            return tracks, rows
        n = new.size
        born = _Tracks(xy[new].copy(), np.where(present[new], 0, -1), np.zeros((n, 2)),
                       np.zeros(n, np.int64), np.ones(n, np.int64), np.full(n, -1, np.int64))
        rows = rows.copy()
        rows[new] = len(tracks) + np.arange(n)
        return tracks.extend(born), rows

    def _confirm(self, tracks: _Tracks) -> _Tracks:
        """Tracks reaching ``min_hits`` get the next ids, oldest first."""
        ready = np.flatnonzero((tracks.ids < 0) & (tracks.hits >= self.min_hits))
        tracks.ids[ready] = self._next_id + np.arange(ready.size)
        self._next_id += ready.size
        if ready.size and logger.isEnabledFor(logging.DEBUG):
            logger.debug("new tracks %s", tracks.ids[ready].tolist())
        return tracks

    def _prune(self, tracks: _Tracks, rows: np.ndarray) -> tuple[_Tracks, np.ndarray]:
        """Drop tracks unmatched for more than ``max_age`` frames (tentative ones at once)
        and forget keypoints unseen for as long."""
        tentative = tracks.ids < 0
        tracks.ages[tracks.ages > self.max_age] = -1
        keep = (tracks.misses <= self.max_age) & ~(tentative & (tracks.misses > 0))
        if keep.all():
            return tracks, rows
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug("dropped tracks %s", tracks.ids[~keep & ~tentative].tolist())
        renumber = np.cumsum(keep) - 1
        rows = np.where(rows >= 0, renumber[np.maximum(rows, 0)], -1)
        return tracks.select(keep), rows


def _predict(tracks: _Tracks) -> None:
    """Move every track one frame along its velocity."""
    tracks.positions += tracks.velocity[:, None, :]
    tracks.ages[tracks.known] += 1
    tracks.misses += 1


def _detections(poses: Poses) -> tuple[np.ndarray, np.ndarray]:
    """Keypoint positions (D, K, 2) float64 and presence (D, K) of the detections."""
    kp = poses.keypoints
    present = (kp[..., 2] > 0) & np.isfinite(kp[..., :2]).all(axis=-1)
    return np.where(present[..., None], kp[..., :2], 0.0).astype(np.float64), present


def _squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """(A, B, K) squared distances between the keypoints of (A, K, 2) and (B, K, 2)."""
    dx: np.ndarray = a[:, None, :, 0] - b[None, :, :, 0]
    dy = a[:, None, :, 1] - b[None, :, :, 1]
    dx *= dx
    dy *= dy
    dx += dy
    return dx


def _overlap_counts(a: np.ndarray, b: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(A, B) numbers of keypoints present in both and in either, for (A, K), (B, K) masks."""
    a, b = a.astype(np.float64), b.astype(np.float64)
    shared = a @ b.T
    return shared, a.sum(axis=1)[:, None] + b.sum(axis=1)[None, :] - shared


def _box_area(xy: np.ndarray, mask: np.ndarray) -> np.ndarray:
    """Area of the bounding box of the masked keypoints, per person; 0 when none."""
    if xy.shape[0] == 0:
        return np.zeros(0)
    m = mask[..., None]
    low = np.where(m, xy, np.inf).min(axis=1)
    high = np.where(m, xy, -np.inf).max(axis=1)
    size = np.where(mask.any(axis=1, keepdims=True), high - low, 0.0)
    area: np.ndarray = size[:, 0] * size[:, 1]
    return area


def _greedy_pairs(score: np.ndarray, allowed: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """One-to-one (detection, track) pairs among the allowed ones, highest score first,
    ties to the lower detection index, then to the older track."""
    det, trk = np.nonzero(allowed)
    order = np.lexsort((trk, det, -score[det, trk]))
    used_det: set[int] = set()
    used_trk: set[int] = set()
    pairs = []
    for d, t in zip(det[order].tolist(), trk[order].tolist(), strict=True):
        if d not in used_det and t not in used_trk:
            used_det.add(d)
            used_trk.add(t)
            pairs.append((d, t))
    chosen = np.array(pairs, np.int64).reshape(-1, 2)
    return chosen[:, 0], chosen[:, 1]


def _check_int(name: str, value: int, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"PoseTracker: {name}={value!r} must be an integer >= {low}")


def _check_range(name: str, value: float, low: float, high: float, allowed: str, *,
                 closed_low: bool = False) -> None:
    """``low < value <= high`` (``closed_low``: ``low <= value < high``), finite, or ValueError."""
    number = isinstance(value, (int, float, np.integer, np.floating))
    v = float(value) if number and not isinstance(value, bool) else float("nan")
    ok = low <= v < high if closed_low else low < v <= high
    if not (ok and np.isfinite(v)):
        raise ValueError(f"PoseTracker: {name}={value!r} is outside {allowed}")
