"""Fall rule: a heuristic on one track's keypoints over time. It is a heuristic.

Per frame, from the track's keypoints (frame pixels, y down):

- **torso angle** to the vertical: the hip midpoint -> neck vector (the shoulders'
  midpoint when the skeleton has no neck); 0 upright, 90 horizontal;
- **aspect**: width / height of the box around the found keypoints;
- **hip height**: the hip midpoint's y.

A track is *upright* when its torso angle is at most ``upright_deg``; while it is, its
standing ``height`` (the keypoint box's height) and hip position are remembered. It is
*lying* when the torso angle is at least ``lying_deg`` and the aspect at least
``lying_aspect``. A **fall** is: upright, then lying within ``fall_s`` seconds, the hips
having dropped by at least ``min_drop`` standing heights at an average of at least
``min_speed`` heights per second over that time; **then** lying still (hips moving less
than ``still_motion`` heights) for ``still_s`` seconds. The event fires then, once; the
track must be upright again before it can fire again.

What it tells apart: bending over (torso horizontal but the hips stay up), sitting
down (hips drop but the torso stays upright), lying down slowly (too slow), and someone
who falls and gets straight up (not still). What it misses: falls seen along the
camera's axis (the torso stays vertical in the picture), falls that end sitting or
kneeling, falls partly out of the picture or hidden (keypoints lost), people already on
the floor when first seen. Times are presentation times (pts), so the thresholds do not
depend on the frame rate. See the README (Events) for how it was validated.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from streampose.errors import ConfigError
from streampose.events.anchor import Anchor, Keypoints
from streampose.events.detector import Hit, Seen
from streampose.events.geometry import Point
from streampose.events.table import check_keys, number, text
from streampose.pose.skeleton import Skeleton

__all__ = ["FallRule", "FallWatcher", "Posture", "posture"]

_UPRIGHT_SAMPLES = 256  # upright moments kept per track (those within fall_s count)
_LIMITS: dict[str, tuple[float, float]] = {  # key -> allowed [low, high]
    "upright_deg": (0.0, 90.0), "lying_deg": (0.0, 180.0), "lying_aspect": (0.0, 100.0),
    "min_drop": (0.0, 10.0), "min_speed": (0.0, 100.0), "fall_s": (0.0, 60.0),
    "still_s": (0.0, 600.0), "still_motion": (0.0, 10.0)}


@dataclass(frozen=True)
class FallRule:
    """The fall heuristic's thresholds (see the module text); ``name`` names its events."""

    KEYS: ClassVar[tuple[str, ...]] = ("name", "camera", *_LIMITS)

    name: str = "fall"
    upright_deg: float = 35.0
    lying_deg: float = 55.0
    lying_aspect: float = 0.8
    min_drop: float = 0.25
    min_speed: float = 0.3
    fall_s: float = 2.0
    still_s: float = 2.0
    still_motion: float = 0.15
    camera: str | None = None

    def __post_init__(self) -> None:
        if self.lying_deg <= self.upright_deg:
            raise ConfigError(f"fall {self.name!r}: lying_deg = {self.lying_deg:g} must be "
                              f"above upright_deg = {self.upright_deg:g}")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[events.fall]") -> FallRule:
        check_keys(table, cls.KEYS, where)
        defaults = cls()
        values = {key: number(table, key, getattr(defaults, key), where, low=low, high=high,
                              low_open=True)
                  for key, (low, high) in _LIMITS.items()}
        return cls(name=text(table, "name", "fall", where) or "fall",
                   camera=text(table, "camera", None, where), **values)

    def detector(self, skeleton: Skeleton) -> FallWatcher:
        return FallWatcher(self, skeleton)


@dataclass(frozen=True)
class Posture:
    """One frame of a person: torso angle (degrees), box aspect and height, hip point."""

    angle: float
    aspect: float
    height: float
    hips: Point


def posture(keypoints: Keypoints, hips: Anchor, neck: Anchor) -> Posture | None:
    """The posture of one person's keypoints; None without hips and neck."""
    hip, top = hips(keypoints), neck(keypoints)
    xs = [k[0] for k in keypoints if k[2] > 0]
    ys = [k[1] for k in keypoints if k[2] > 0]
    if hip is None or top is None or len(xs) < 3:
        return None
    angle = math.degrees(math.atan2(abs(top[0] - hip[0]), hip[1] - top[1]))
    width, height = float(max(xs) - min(xs)), float(max(ys) - min(ys))
    return Posture(angle=angle, aspect=width / max(height, 1.0), height=height, hips=hip)


@dataclass
class _Track:
    """A track's fall state: its recent upright moments, and the lying spell if any."""

    standing: float = 0.0  # standing height, pixels (0: never seen upright)
    upright: deque[tuple[float, float]] = field(  # (pts, hip y) while upright, recent
        default_factory=lambda: deque(maxlen=_UPRIGHT_SAMPLES))
    down_pts: float | None = None  # lying still since
    down_hips: Point = (0.0, 0.0)
    fell: bool = False  # a drop like a fall led to this lying spell
    fell_drop: float = 0.0  # that drop, in standing heights
    fired: bool = False


class FallWatcher:
    """Per-camera state of the fall rule, one small record per track."""

    def __init__(self, rule: FallRule, skeleton: Skeleton) -> None:
        self.fall, self.rule = rule, rule.name
        self._hips = Anchor("pelvis", skeleton)  # no neck fallback: the torso needs both
        self._neck = Anchor("neck", skeleton)
        self._tracks: dict[int, _Track] = {}

    @property
    def tracks(self) -> int:
        return len(self._tracks)

    def observe(self, seen: Seen) -> list[Hit]:
        now = posture(seen.keypoints, self._hips, self._neck)
        if now is None:
            return []
        track = self._tracks.setdefault(seen.track_id, _Track())
        rule = self.fall
        if now.angle <= rule.upright_deg:
            self._stand(track, now, seen.pts)
        elif now.angle >= rule.lying_deg and now.aspect >= rule.lying_aspect:
            return self._lying(track, now, seen.pts)
        return []

    def _stand(self, track: _Track, now: Posture, pts: float) -> None:
        # the standing height follows the person (walking away shrinks it) but ignores a
        # single short frame (a missed ankle) by keeping the larger of old and new
        shrink = 0.8 * track.standing
        track.standing = max(now.height, shrink) if track.standing else now.height
        track.upright.append((pts, now.hips[1]))
        track.down_pts, track.fell, track.fired = None, False, False

    def _lying(self, track: _Track, now: Posture, pts: float) -> list[Hit]:
        if track.standing <= 0:
            return []  # never seen upright: cannot tell a fall
        track.fell = track.fell or self._was_fall(track, now, pts)
        if track.down_pts is None:
            track.down_pts, track.down_hips = pts, now.hips
            return []
        if math.dist(now.hips, track.down_hips) > self.fall.still_motion * track.standing:
            track.down_pts, track.down_hips = pts, now.hips  # moving: restart stillness
            return []
        if not track.fell or track.fired or pts - track.down_pts < self.fall.still_s:
            return []
        track.fired = True
        return [Hit("fall", now.hips, {"angle_deg": round(now.angle, 1),
                                       "aspect": round(now.aspect, 2),
                                       "drop": round(track.fell_drop, 2),
                                       "still_s": round(pts - track.down_pts, 3)})]

    def _was_fall(self, track: _Track, now: Posture, pts: float) -> bool:
        """Upright at some moment at most ``fall_s`` ago, from which the hips dropped at
        least ``min_drop`` standing heights at ``min_speed`` heights per second or more."""
        rule, best = self.fall, 0.0
        for since, hip_y in track.upright:
            took = pts - since
            drop = (now.hips[1] - hip_y) / track.standing
            if 0 < took <= rule.fall_s and drop >= rule.min_drop and drop / took >= rule.min_speed:
                best = max(best, drop)
        if best:
            track.fell_drop = best
        return best > 0

    def lost(self, track_id: int, last: Seen) -> list[Hit]:
        self._tracks.pop(track_id, None)
        return []

