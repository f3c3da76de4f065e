"""Zone rule: a named polygon; ``enter``, ``leave``, ``dwell`` events and its occupancy.

A track is inside when its anchor is inside the polygon (frame pixels, vertices in
order). Hysteresis: within ``band`` pixels of the edge a track keeps its state, so
jitter on the edge gives no enter/leave storm. ``enter`` when a track goes in (or is
first seen inside); ``dwell`` once per visit, when it has been inside for ``dwell_s``
seconds of presentation time (pts); ``leave`` when it goes out, or when its track ends
inside (``"lost": true``). Every event carries the zone's ``occupancy`` after it; ``leave``
and ``dwell`` carry ``dwell_s``, the time inside so far.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from streampose.errors import ConfigError
from streampose.events.anchor import Anchor
from streampose.events.detector import Hit, Seen
from streampose.events.geometry import (
    Point,
    boundary_distance,
    inside,
    polygon_area,
    segments_cross,
)
from streampose.events.table import check_keys, number, points, rule_name, text
from streampose.pose.skeleton import Skeleton

__all__ = ["ZoneRule", "ZoneWatcher"]


@dataclass(frozen=True)
class ZoneRule:
    """``name``; the ``polygon``; the ``anchor`` followed; ``dwell_s`` (None: no dwell
    events); the edge hysteresis ``band`` (pixels); ``camera`` (None: every camera)."""

    KEYS: ClassVar[tuple[str, ...]] = ("name", "points", "anchor", "dwell_s", "band", "camera")

    name: str
    polygon: tuple[Point, ...]
    anchor: str = "hips"
    dwell_s: float | None = None
    band: float = 4.0
    camera: str | None = None

    def __post_init__(self) -> None:
        if len(set(self.polygon)) >= 3 and _self_crossing(self.polygon):
            raise ConfigError(f"zone {self.name!r}: the polygon's edges cross each other; "
                              "list the points in order around the zone")
        if len(set(self.polygon)) < 3 or polygon_area(self.polygon) < 1.0:
            raise ConfigError(f"zone {self.name!r}: the polygon {list(self.polygon)} has no "
                              "area; give at least 3 points that are not on one line")

    @classmethod
    def from_table(cls, table: Mapping[str, Any], where: str = "[[events.zone]]") -> ZoneRule:
        where = f"{where} {table.get('name')!r}" if "name" in table else where
        check_keys(table, cls.KEYS, where)
        name = rule_name(table, where)
        polygon = points(table, where, least=3)
        dwell = table.get("dwell_s")
        return cls(name=name, polygon=polygon,
                   anchor=text(table, "anchor", "hips", where) or "hips",
                   dwell_s=None if dwell is None else number(table, "dwell_s", 0.0, where,
                                                             low=0.0, low_open=True),
                   band=number(table, "band", 4.0, where, high=10_000),
                   camera=text(table, "camera", None, where))

    def detector(self, skeleton: Skeleton) -> ZoneWatcher:
        return ZoneWatcher(self, Anchor(self.anchor, skeleton))


@dataclass
class _Visit:
    inside: bool
    since: float  # pts when it went in
    dwelt: bool = False


class ZoneWatcher:
    """Per-camera state of a zone: who is inside since when."""

    def __init__(self, rule: ZoneRule, anchor: Anchor) -> None:
        self.zone, self.rule, self.anchor = rule, rule.name, anchor
        self._visits: dict[int, _Visit] = {}

    @property
    def tracks(self) -> int:
        return len(self._visits)

    @property
    def occupancy(self) -> int:
        """Tracks inside now."""
        return sum(v.inside for v in self._visits.values())

    def observe(self, seen: Seen) -> list[Hit]:
        point = self.anchor(seen.keypoints)
        if point is None:
            return []
        visit = self._visits.get(seen.track_id)
        if boundary_distance(self.zone.polygon, point) > self.zone.band:
            now = inside(self.zone.polygon, point)
            if visit is None or visit.inside != now:
                return self._change(seen, point, now, visit)
        if visit is not None and visit.inside:
            return self._dwell(visit, seen, point)
        return []

    def _change(self, seen: Seen, point: Point, now: bool, visit: _Visit | None) -> list[Hit]:
        self._visits[seen.track_id] = _Visit(inside=now, since=seen.pts)
        if now:
            return [Hit("enter", point, {"occupancy": self.occupancy})]
        if visit is None:
            return []
        return [Hit("leave", point, {"occupancy": self.occupancy,
                                     "dwell_s": round(seen.pts - visit.since, 3)})]

    def _dwell(self, visit: _Visit, seen: Seen, point: Point) -> list[Hit]:
        limit = self.zone.dwell_s
        if limit is None or visit.dwelt or seen.pts - visit.since < limit:
            return []
        visit.dwelt = True
        return [Hit("dwell", point, {"occupancy": self.occupancy,
                                     "dwell_s": round(seen.pts - visit.since, 3)})]

    def lost(self, track_id: int, last: Seen) -> list[Hit]:
        visit = self._visits.pop(track_id, None)
        if visit is None or not visit.inside:
            return []
        point = self.anchor(last.keypoints) or (0.0, 0.0)
        return [Hit("leave", point, {"occupancy": self.occupancy, "lost": True,
                                     "dwell_s": round(last.pts - visit.since, 3)})]


def _self_crossing(polygon: tuple[Point, ...]) -> bool:
    n = len(polygon)
    edges = [(polygon[i], polygon[(i + 1) % n]) for i in range(n)]
    return any(segments_cross(*edges[i], *edges[j])
               for i in range(n) for j in range(i + 2, n) if not (i == 0 and j == n - 1))
