"""Plane geometry in frame pixels (x right, y down) for line and zone rules."""

from __future__ import annotations

import math
from collections.abc import Sequence

__all__ = [
    "Point",
    "boundary_distance",
    "crossing",
    "inside",
    "polygon_area",
    "segment_distance",
    "segments_cross",
    "side",
]

Point = tuple[float, float]


def side(a: Point, b: Point, p: Point) -> float:
    """Signed distance of ``p`` from the line through ``a`` and ``b``: positive on the
    right of the arrow a -> b as seen on screen (y down), negative on its left."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    return (dx * (p[1] - a[1]) - dy * (p[0] - a[0])) / math.hypot(dx, dy)


def crossing(a: Point, b: Point, p: Point, q: Point) -> float | None:
    """Where the step ``p -> q`` meets the line through ``a``, ``b``, as the fraction
    along ``a -> b`` (0 at ``a``, 1 at ``b``); None when the step is parallel to it."""
    rx, ry = b[0] - a[0], b[1] - a[1]
    sx, sy = q[0] - p[0], q[1] - p[1]
    denom = rx * sy - ry * sx
    if denom == 0:
        return None
    return ((p[0] - a[0]) * sy - (p[1] - a[1]) * sx) / denom


def segment_distance(p: Point, a: Point, b: Point) -> float:
    """Distance from ``p`` to the segment ``a``-``b``."""
    dx, dy = b[0] - a[0], b[1] - a[1]
    length2 = dx * dx + dy * dy
    t = 0.0 if length2 == 0 else ((p[0] - a[0]) * dx + (p[1] - a[1]) * dy) / length2
    t = min(1.0, max(0.0, t))
    return math.hypot(p[0] - (a[0] + t * dx), p[1] - (a[1] + t * dy))


def inside(polygon: Sequence[Point], p: Point) -> bool:
    """Whether ``p`` is inside ``polygon`` (even-odd rule; vertices in order)."""
    result = False
    n = len(polygon)
    for i in range(n):
        (x1, y1), (x2, y2) = polygon[i], polygon[(i + 1) % n]
        if (y1 > p[1]) != (y2 > p[1]):
            x = x1 + (p[1] - y1) * (x2 - x1) / (y2 - y1)
            if p[0] < x:
                result = not result
    return result


def boundary_distance(polygon: Sequence[Point], p: Point) -> float:
    """Distance from ``p`` to the nearest edge of ``polygon``."""
    n = len(polygon)
    return min(segment_distance(p, polygon[i], polygon[(i + 1) % n]) for i in range(n))


def polygon_area(polygon: Sequence[Point]) -> float:
    """Unsigned area (shoelace formula)."""
    n = len(polygon)
    twice = sum(polygon[i][0] * polygon[(i + 1) % n][1] - polygon[(i + 1) % n][0] * polygon[i][1]
                for i in range(n))
    return abs(twice) / 2.0


def segments_cross(a: Point, b: Point, c: Point, d: Point) -> bool:
    """Whether the segments ``a``-``b`` and ``c``-``d`` properly cross (touching at an end
    does not count)."""
    d1, d2 = _orient(c, d, a), _orient(c, d, b)
    d3, d4 = _orient(a, b, c), _orient(a, b, d)
    return d1 * d2 < 0 and d3 * d4 < 0


def _orient(a: Point, b: Point, p: Point) -> float:
    return (b[0] - a[0]) * (p[1] - a[1]) - (b[1] - a[1]) * (p[0] - a[0])
