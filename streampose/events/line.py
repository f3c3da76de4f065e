"""Line rule: count tracks crossing a named segment, by direction.

A line goes from ``a`` to ``b`` (frame pixels). Its **directions**: ``in`` is a crossing
from the left to the right of the arrow a -> b as drawn on screen (y down); ``out`` the
other way. For a horizontal line drawn left to right, ``in`` is moving down the picture;
the line annotator draws a small arrow pointing to the ``in`` side.

Hysteresis: a track's side only changes once its anchor is more than ``band`` pixels
from the line; positions inside the band keep the side it had. A track jittering on the
line is therefore counted once, and a crossing needs a real move of more than
``2 * band`` across. A crossing counts when the step from the last position outside the
band to the new one meets the segment (not the line beyond its ends). A track first seen
on one side is only recorded; its first crossing is an event.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from streampose.errors import ConfigError
from streampose.events.anchor import Anchor
from streampose.events.detector import Hit, Seen
from streampose.events.geometry import Point, crossing, side
from streampose.events.table import check_keys, number, points, rule_name, text
from streampose.pose.skeleton import Skeleton

__all__ = ["DIRECTIONS", "LineCounter", "LineRule"]

DIRECTIONS = ("in", "out")


@dataclass(frozen=True)
class LineRule:
    """``name``; the segment ``a`` -> ``b``; the ``anchor`` point followed (see
    :mod:`streampose.events.anchor`); the hysteresis ``band`` (pixels, each side);
    ``camera``: the one camera it applies to (None: every camera)."""

    KEYS: ClassVar[tuple[str, ...]] = ("name", "points", "anchor", "band", "camera")

    name: str
    a: Point
    b: Point
    anchor: str = "hips"
    band: float = 8.0
    camera: str | None = None

    def __post_init__(self) -> None:
        length = math.dist(self.a, self.b)
        if length < 2.0 or length <= 2 * self.band:
            raise ConfigError(f"line {self.name!r}: the segment {self.a} -> {self.b} is "
                              f"{length:.1f} px long; it must be longer than 2 px and than "
                              f"twice the band ({self.band:g} px)")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[[events.line]]") -> LineRule:
        where = f"{where} {table.get('name')!r}" if "name" in table else where
        check_keys(table, cls.KEYS, where)
        name = rule_name(table, where)
        a, b = points(table, where, least=2, most=2)
        return cls(name=name, a=a, b=b,
                   anchor=text(table, "anchor", "hips", where) or "hips",
                   band=number(table, "band", 8.0, where, high=10_000),
                   camera=text(table, "camera", None, where))

    def detector(self, skeleton: Skeleton) -> LineCounter:
        return LineCounter(self, Anchor(self.anchor, skeleton))


class LineCounter:
    """Per-camera state of a line: each track's committed side and the counts."""

    def __init__(self, rule: LineRule, anchor: Anchor) -> None:
        self.line, self.rule, self.anchor = rule, rule.name, anchor
        self.counts = dict.fromkeys(DIRECTIONS, 0)
        self._sides: dict[int, tuple[int, Point]] = {}  # track -> (side, last point there)

    @property
    def tracks(self) -> int:
        return len(self._sides)

    def observe(self, seen: Seen) -> list[Hit]:
        point = self.anchor(seen.keypoints)
        if point is None:
            return []
        distance = side(self.line.a, self.line.b, point)
        now = 1 if distance > self.line.band else -1 if distance < -self.line.band else 0
        if now == 0:
            return []
        before = self._sides.get(seen.track_id)
        self._sides[seen.track_id] = (now, point)
        if before is None or before[0] == now:
            return []
        where = crossing(self.line.a, self.line.b, before[1], point)
        if where is None or not 0.0 <= where <= 1.0:
            return []  # went round an end of the segment
        direction = DIRECTIONS[0] if now > 0 else DIRECTIONS[1]
        self.counts[direction] += 1
        return [Hit("line", point, {"direction": direction, "count_in": self.counts["in"],
                                    "count_out": self.counts["out"]})]

    def lost(self, track_id: int, last: Seen) -> list[Hit]:
        self._sides.pop(track_id, None)
        return []
