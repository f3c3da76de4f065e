"""Keypoint candidates: non-maximum suppression on heatmaps with sub-pixel refinement.

Works at the network's output resolution on all keypoint channels at once, so the cost
is a handful of numpy operations per frame whatever the number of people.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, slots=True)
class Peaks:
    """Keypoint candidates of one image, sorted by keypoint type.

    ``xy`` float32 (N, 2) sub-pixel map coordinates (pixel centres at integers),
    ``score`` float32 (N,), ``kind`` int (N,) keypoint index, ``start`` (K+1,) offsets:
    candidates of keypoint k are rows ``start[k]:start[k+1]``.
    """

    xy: np.ndarray
    score: np.ndarray
    kind: np.ndarray
    start: np.ndarray

    def count(self, k: int) -> int:
        return int(self.start[k + 1] - self.start[k])

    @classmethod
    def from_table(cls, table: np.ndarray, kinds: int) -> Peaks:
        """Peaks from rows ``(kind, x, y, score)`` sorted by kind (the device peak table)."""
        table = np.asarray(table, dtype=np.float32).reshape(-1, 4)
        kind = table[:, 0].astype(np.int64)
        if kind.size and (kind.min() < 0 or kind.max() >= kinds or np.any(np.diff(kind) < 0)):
            raise ValueError(f"peak table: kinds must be sorted and in [0, {kinds})")
        start = np.concatenate([[0], np.cumsum(np.bincount(kind, minlength=kinds))])
        return cls(xy=np.ascontiguousarray(table[:, 1:3]), score=table[:, 3].copy(), kind=kind,
                   start=start)


def find_peaks(heatmaps: np.ndarray, *, threshold: float, radius: int = 1,
               subpixel: bool = True) -> Peaks:
    """Local maxima above ``threshold`` in a ``(2*radius+1)`` window of each channel.

    ``heatmaps`` is float32 (K, h, w). Sub-pixel offsets come from a quadratic fit over
    the 3x3 neighbourhood along each axis (clamped to half a pixel; none on the border).
    """
    padded = np.pad(heatmaps, ((0, 0), (radius, radius), (radius, radius)))
    local_max = _max_filter(padded, radius)
    mask = (heatmaps >= local_max) & (heatmaps > threshold)
    kind, y, x = np.nonzero(mask)
    keep = _first_of_ties(padded, np.pad(mask, ((0, 0), (radius, radius), (radius, radius))),
                          kind, y + radius, x + radius, radius)
    kind, y, x = kind[keep], y[keep], x[keep]
    score = heatmaps[kind, y, x]
    xy = np.stack([x, y], axis=1).astype(np.float32)
    if subpixel and kind.size:
        xy += _quadratic_offsets(padded, kind, y + radius, x + radius, score, heatmaps.shape)
    counts = np.bincount(kind, minlength=heatmaps.shape[0])
    start = np.concatenate([[0], np.cumsum(counts)])
    return Peaks(xy=xy, score=score.astype(np.float32), kind=kind, start=start)


def _max_filter(padded: np.ndarray, radius: int) -> np.ndarray:
    """Separable max filter of a zero-padded (C, h+2r, w+2r) stack -> (C, h, w)."""
    width = 2 * radius + 1
    h, w = padded.shape[1] - 2 * radius, padded.shape[2] - 2 * radius
    rows = padded[:, :, 0:w].copy()
    for d in range(1, width):
        np.maximum(rows, padded[:, :, d:d + w], out=rows)
    out: np.ndarray = rows[:, 0:h].copy()
    for d in range(1, width):
        np.maximum(out, rows[:, d:d + h], out=out)
    return out


def _first_of_ties(padded: np.ndarray, padded_mask: np.ndarray, kind: np.ndarray,
                   py: np.ndarray, px: np.ndarray, radius: int) -> np.ndarray:
    """Drop a peak tied with an earlier (raster order) peak in its window: one per plateau.

    Exact ties happen on fp16 maps and when a keypoint lies halfway between pixels.
    """
    keep = np.ones(kind.size, bool)
    centre = padded[kind, py, px]
    for dy in range(-radius, 1):
        for dx in range(-radius, radius + 1):
            if dy == 0 and dx >= 0:
                break
            tied = (padded[kind, py + dy, px + dx] == centre) & padded_mask[kind, py + dy, px + dx]
            keep &= ~tied
    return keep


def _quadratic_offsets(padded: np.ndarray, kind: np.ndarray, py: np.ndarray, px: np.ndarray,
                       centre: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Per-axis vertex of the parabola through (left, centre, right), in pixels."""
    left, right = padded[kind, py, px - 1], padded[kind, py, px + 1]
    up, down = padded[kind, py - 1, px], padded[kind, py + 1, px]
    dx = _vertex(left, centre, right)
    dy = _vertex(up, centre, down)
    radius = (padded.shape[1] - shape[1]) // 2
    dx[(px == radius) | (px == shape[2] - 1 + radius)] = 0.0
    dy[(py == radius) | (py == shape[1] - 1 + radius)] = 0.0
    return np.stack([dx, dy], axis=1)


def _vertex(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> np.ndarray:
    curvature = a - 2.0 * b + c
    safe = np.where(curvature < 0, curvature, -1.0)
    offset = np.where(curvature < 0, 0.5 * (a - c) / safe, 0.0)
    return np.clip(offset, -0.5, 0.5).astype(np.float32)
