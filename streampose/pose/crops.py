"""Crops: the parts of a frame a network sees (whole frame, tiles, motion regions).

A :class:`Crop` is a rectangle of one frame, in frame pixels, and the scale at which it
goes into the network (network input pixels per frame pixel). Poses found in a crop map
back to the frame by :meth:`Crop.to_frame_mapping` (see :mod:`streampose.pose.merge`).
Three planners make crops:

- :func:`plan_tiles`: overlapping tiles covering a frame larger than one network input;
- :func:`scale_for_person_height`: the scale that puts the smallest person to find in a
  network's best range of person heights;
- :func:`regions_to_crops`: boxes (motion, tracked people) grown, merged and clipped.

Pure numpy and deterministic; no image is touched here.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

__all__ = ["Crop", "plan_tiles", "regions_to_crops", "scale_for_person_height", "whole_frame"]


@dataclass(frozen=True)
class Crop:
    """The rectangle ``x <= col < x + w``, ``y <= row < y + h`` of a frame (frame pixels)
    and ``scale``: network input pixels per frame pixel (2.0 doubles the crop's size)."""

    x: int
    y: int
    w: int
    h: int
    scale: float = 1.0

    def __post_init__(self) -> None:
        for name in ("x", "y", "w", "h"):
            value = getattr(self, name)
            low = 1 if name in ("w", "h") else 0
            if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
                raise ValueError(f"Crop: {name} = {value!r} must be an integer >= {low}")
            object.__setattr__(self, name, int(value))
        if not (isinstance(self.scale, (int, float)) and math.isfinite(self.scale)
                and self.scale > 0):
            raise ValueError(f"Crop: scale = {self.scale!r} must be a finite number > 0")
        object.__setattr__(self, "scale", float(self.scale))

    @property
    def box(self) -> tuple[int, int, int, int]:
        """(x1, y1, x2, y2), the end exclusive."""
        return self.x, self.y, self.x + self.w, self.y + self.h

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """(x, y, w, h)."""
        return self.x, self.y, self.w, self.h

    @property
    def slices(self) -> tuple[slice, slice]:
        """(rows, cols) to cut the crop from an ``(H, W, ...)`` frame array."""
        return slice(self.y, self.y + self.h), slice(self.x, self.x + self.w)

    @property
    def input_size(self) -> tuple[int, int]:
        """(width, height) of the crop at its scale, rounded, at least 1 each."""
        return max(1, round(self.w * self.scale)), max(1, round(self.h * self.scale))

    def fits(self, frame_w: int, frame_h: int) -> bool:
        """Whether the crop lies inside a ``frame_w`` x ``frame_h`` frame."""
        return self.x + self.w <= frame_w and self.y + self.h <= frame_h

    def to_frame_mapping(self, *, input_pixels: bool = False
                         ) -> tuple[tuple[float, float], tuple[float, float]]:
        """(scale, offset) per axis for ``Poses.transformed``: crop pixels -> frame pixels,
        or network input pixels -> frame pixels when ``input_pixels`` (the crop resized by
        :attr:`scale` with no padding)."""
        factor = 1.0 / self.scale if input_pixels else 1.0
        return (factor, factor), (float(self.x), float(self.y))


def whole_frame(frame_w: int, frame_h: int, *, scale: float = 1.0) -> Crop:
    """The crop covering the whole frame."""
    return Crop(x=0, y=0, w=frame_w, h=frame_h, scale=scale)


def plan_tiles(frame_w: int, frame_h: int, *, tile_w: int, tile_h: int, overlap: int,
               scale: float = 1.0) -> list[Crop]:
    """Overlapping ``tile_w`` x ``tile_h`` tiles (frame pixels) covering the frame, row by
    row from the top left, each at ``scale``.

    Per axis: a frame no larger than a tile gives one span, the frame's whole length (a
    frame that fits is one whole-frame crop). A larger frame gets the fewest tiles whose
    neighbours overlap by at least ``overlap`` pixels, spread evenly from edge to edge:
    the edge tiles lie inside the frame (never padded), and the spare length goes into
    the overlaps, so real overlaps are ``overlap`` or a little more. Choose ``overlap``
    about the height of the largest person a tile must see whole (see
    :mod:`streampose.pose.merge` on people cut at a seam).
    """
    _check_int("frame_w", frame_w, 1)
    _check_int("frame_h", frame_h, 1)
    _check_int("tile_w", tile_w, 1)
    _check_int("tile_h", tile_h, 1)
    _check_int("overlap", overlap, 0)
    if overlap >= min(tile_w, tile_h):
        raise ValueError(f"plan_tiles: overlap = {overlap} must be < the tile's smaller "
                         f"side ({min(tile_w, tile_h)})")
    xs = _spans(frame_w, tile_w, overlap)
    ys = _spans(frame_h, tile_h, overlap)
    return [Crop(x=x, y=y, w=w, h=h, scale=scale) for y, h in ys for x, w in xs]


def _spans(length: int, tile: int, overlap: int) -> list[tuple[int, int]]:
    """(start, size) of the tiles along one axis."""
    if length <= tile:
        return [(0, length)]
    count = math.ceil((length - overlap) / (tile - overlap))
    room = length - tile
    return [(i * room // (count - 1), tile) for i in range(count)]


def scale_for_person_height(min_person_px: float, *, best_px_range: tuple[float, float],
                            input_height: int) -> float:
    """The input scale (network pixels per frame pixel) for people ``min_person_px`` tall
    and up.

    ``best_px_range`` = (low, high) is the range of person heights, in network input
    pixels, that the head finds best (the caller gives it per head; it is measured, not
    guessed, elsewhere). The formula::

        scale = low / min_person_px

    puts the smallest person to find at the range's low end: the cheapest scale that
    finds them (every pixel more costs CPU), and the one that keeps the most larger
    people in range too, all of heights ``min_person_px`` to ``min_person_px * high /
    low`` in frame pixels. ``input_height`` is the network input (tile) height in its own
    pixels: the range's top must fit in it, since a person taller than a tile is cut by
    every tile. Raises ValueError on a bad value, naming it.
    """
    low, high = best_px_range
    _check_positive("min_person_px", min_person_px)
    _check_positive("best_px_range low", low)
    _check_positive("best_px_range high", high)
    _check_int("input_height", input_height, 1)
    if high < low:
        raise ValueError(f"scale_for_person_height: best_px_range = {best_px_range!r} "
                         "must be (low, high) with low <= high")
    if high > input_height:
        raise ValueError(f"scale_for_person_height: best_px_range high = {high} exceeds "
                         f"input_height = {input_height}")
    return float(low) / float(min_person_px)


def regions_to_crops(boxes: np.ndarray | Sequence[Sequence[float]], frame_w: int,
                     frame_h: int, *, min_side: int, margin: float, max_crops: int,
                     scale: float = 1.0) -> list[Crop]:
    """Crops around ``boxes`` ``(n, 4)`` (x1, y1, x2, y2, frame pixels), each at ``scale``.

    Each box is grown by ``margin`` times its width (height) on the left and right (top
    and bottom), widened (heightened) to at least ``min_side`` pixels about its centre,
    then shifted inside the frame, keeping its size (more context for a person at the
    frame's edge), and clipped only where it is longer than the frame. Crops that overlap
    are merged into their bounding box until none overlap; while there are more than
    ``max_crops``, the pair whose merge adds the least area is merged. Empty and
    non-finite boxes are ignored. The crops come sorted top to bottom, then left to right.
    """
    _check_int("frame_w", frame_w, 1)
    _check_int("frame_h", frame_h, 1)
    _check_int("min_side", min_side, 1)
    _check_int("max_crops", max_crops, 1)
    if not (math.isfinite(margin) and margin >= 0):
        raise ValueError(f"regions_to_crops: margin = {margin!r} must be a finite number >= 0")
    rects = [_grown(box, frame_w, frame_h, min_side, margin) for box in _valid(boxes)]
    rects = _merge_overlapping(rects)
    while len(rects) > max_crops:
        rects = _merge_overlapping(_merge_cheapest(rects))
    rects.sort(key=lambda r: (r[1], r[0], r[3], r[2]))
    return [Crop(x=x1, y=y1, w=x2 - x1, h=y2 - y1, scale=scale) for x1, y1, x2, y2 in rects]


_Rect = tuple[int, int, int, int]


def _valid(boxes: np.ndarray | Sequence[Sequence[float]]) -> np.ndarray:
    arr = np.asarray(boxes, np.float64).reshape(-1, 4)
    keep = np.isfinite(arr).all(axis=1) & (arr[:, 2] > arr[:, 0]) & (arr[:, 3] > arr[:, 1])
    return arr[keep]


def _grown(box: np.ndarray, frame_w: int, frame_h: int, min_side: int, margin: float) -> _Rect:
    x1, x2 = _grown_span(box[0], box[2], frame_w, min_side, margin)
    y1, y2 = _grown_span(box[1], box[3], frame_h, min_side, margin)
    return x1, y1, x2, y2


def _grown_span(lo: float, hi: float, length: int, min_side: int, margin: float
                ) -> tuple[int, int]:
    """One axis: grown by the margin, at least ``min_side`` (or the frame) long, inside."""
    pad = (hi - lo) * margin
    lo, hi = lo - pad, hi + pad
    side = min(max(hi - lo, float(min_side)), float(length))
    centre = (lo + hi) / 2
    start = min(max(centre - side / 2, 0.0), length - side)
    first = max(0, math.floor(start))
    return first, min(length, max(first + 1, math.ceil(start + side)))


def _overlap(a: _Rect, b: _Rect) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _union(a: _Rect, b: _Rect) -> _Rect:
    return min(a[0], b[0]), min(a[1], b[1]), max(a[2], b[2]), max(a[3], b[3])


def _area(r: _Rect) -> int:
    return (r[2] - r[0]) * (r[3] - r[1])


def _merge_overlapping(rects: list[_Rect]) -> list[_Rect]:
    """Merge overlapping rectangles into their bounding boxes until none overlap."""
    out: list[_Rect] = []
    for rect in rects:
        out = _absorb(out, rect)
    return out


def _absorb(done: list[_Rect], rect: _Rect) -> list[_Rect]:
    """Add ``rect`` to finished rectangles, merging any it now overlaps."""
    clashing = [r for r in done if _overlap(r, rect)]
    if not clashing:
        return [*done, rect]
    rest = [r for r in done if not _overlap(r, rect)]
    for r in clashing:
        rect = _union(rect, r)
    return _absorb(rest, rect)


def _merge_cheapest(rects: list[_Rect]) -> list[_Rect]:
    """Merge the pair whose bounding box adds the least area (first such pair on ties)."""
    best: tuple[int, int, int] | None = None
    for i in range(len(rects)):
        for j in range(i + 1, len(rects)):
            union = _union(rects[i], rects[j])
            cost = _area(union) - _area(rects[i]) - _area(rects[j])
            if best is None or cost < best[0]:
                best = (cost, i, j)
    assert best is not None
    _, i, j = best
    merged = _union(rects[i], rects[j])
    return [r for k, r in enumerate(rects) if k not in (i, j)] + [merged]


def _check_int(name: str, value: object, low: int) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < low:
        raise ValueError(f"{name} = {value!r} must be an integer >= {low}")


def _check_positive(name: str, value: object) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    if not (ok and math.isfinite(float(value)) and float(value) > 0):  # type: ignore[arg-type]
        raise ValueError(f"{name} = {value!r} must be a finite number > 0")
