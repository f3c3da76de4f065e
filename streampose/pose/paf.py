"""Limb scoring: the PAF line integral between every candidate pair, all limbs at once."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from streampose.pose.peaks import Peaks
from streampose.pose.skeleton import Skeleton


@dataclass(frozen=True, slots=True)
class LimbCandidates:
    """Candidate connections that passed OpenPose's criteria, sorted by limb then score.

    ``limb``, ``a``, ``b`` (peak rows of the limb's two keypoints) and ``score`` (mean
    PAF alignment with the distance prior) are parallel arrays.
    """

    limb: np.ndarray
    a: np.ndarray
    b: np.ndarray
    score: np.ndarray


def score_limbs(peaks: Peaks, pafs: np.ndarray, skeleton: Skeleton, *, samples: int,
                paf_threshold: float, min_fraction: float) -> LimbCandidates:
    """Score all (a, b) candidate pairs of every limb by sampling the PAF along the segment.

    A pair is kept when at least ``min_fraction`` of the ``samples`` bilinear samples
    align with the segment by more than ``paf_threshold`` and the mean alignment plus the
    distance prior ``min(0.5 * h / length - 1, 0)`` is positive.
    """
    limb, a, b = _all_pairs(peaks, skeleton)
    t = np.linspace(0.0, 1.0, samples, dtype=np.float32)
    channels = np.asarray(skeleton.paf_channels)
    needed = int(np.ceil(min_fraction * samples - 1e-9))
    probe = _probe_samples(samples, needed)
    if limb.size and probe.size < samples:
        align = _alignment(peaks, pafs, channels, limb, a, b, t[probe])
        alive = (align > paf_threshold).any(axis=1)
        limb, a, b = limb[alive], a[alive], b[alive]
    if limb.size == 0:
        return _empty()
    align = _alignment(peaks, pafs, channels, limb, a, b, t)
    length = np.linalg.norm(peaks.xy[b] - peaks.xy[a], axis=1)
    prior = np.minimum(0.5 * pafs.shape[1] / np.maximum(length, 1e-6) - 1.0, 0.0)
    score = align.mean(axis=1) + prior
    keep = ((align > paf_threshold).sum(axis=1) >= needed) & (score > 0)
    limb, a, b, score = limb[keep], a[keep], b[keep], score[keep]
    order = np.lexsort((-score, limb))
    return LimbCandidates(limb[order], a[order], b[order], score[order].astype(np.float32))


def _probe_samples(samples: int, needed: int) -> np.ndarray:
    """Sample indices such that a pair failing all of them cannot pass ``min_fraction``.

    A pair may fail at most ``samples - needed`` of its samples, so one
    more failure than that, at any samples, rules it out exactly: probing those few
    samples for every pair first, and all samples only for the survivors, changes no
    result and skips most of the work (pairs joining different people fail quickly).
    """
    probes = samples - needed + 1
    if needed == 0 or probes > samples - 2:
        return np.arange(samples)
    return np.floor(np.linspace(1, samples - 2, probes) + 0.5).astype(np.intp)


def _alignment(peaks: Peaks, pafs: np.ndarray, channels: np.ndarray, limb: np.ndarray,
               a: np.ndarray, b: np.ndarray, t: np.ndarray) -> np.ndarray:
    """PAF . unit(b - a) at fractions ``t`` along each pair's segment: (P, len(t))."""
    pa = peaks.xy[a]
    delta = peaks.xy[b] - pa
    unit = delta / np.maximum(np.linalg.norm(delta, axis=1), 1e-6)[:, None]
    points = pa[:, None, :] + t[None, :, None] * delta[:, None, :]
    vx, vy = _bilinear_pair(pafs, channels[limb], points)
    dots: np.ndarray = vx * unit[:, None, 0] + vy * unit[:, None, 1]
    return dots


def _all_pairs(peaks: Peaks, skeleton: Skeleton) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Every (limb, peak a, peak b) combination, built without a Python loop over pairs."""
    ends = np.asarray(skeleton.limbs)
    counts = np.diff(peaks.start)
    na, nb = counts[ends[:, 0]], counts[ends[:, 1]]
    sizes = na * nb
    total = int(sizes.sum())
    limb = np.repeat(np.arange(len(ends)), sizes)
    if total == 0:
        return limb, limb, limb
    first = np.repeat(np.cumsum(sizes) - sizes, sizes)
    j = np.arange(total) - first
    width = nb[limb]
    a = peaks.start[ends[limb, 0]] + j // width
    b = peaks.start[ends[limb, 1]] + j % width
    return limb, a, b


def _bilinear_pair(maps: np.ndarray, channels: np.ndarray,
                   points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bilinear samples of channels (x, y) per pair at points (P, S, 2) of a (C, h, w) stack.

    Works in float32 throughout and gathers both channels with one indexing call per
    corner: this runs on every candidate pair, so it is the decoder's hot loop.
    """
    _, h, w = maps.shape
    x = np.clip(points[..., 0], 0, w - 1)
    y = np.clip(points[..., 1], 0, h - 1)
    x0 = np.minimum(np.floor(x), max(w - 2, 0))
    y0 = np.minimum(np.floor(y), max(h - 2, 0))
    fx, fy = x - x0, y - y0
    base = y0.astype(np.intp) * w + x0.astype(np.intp)
    plane = h * w
    index = np.stack([base + (channels[:, :1] * plane), base + (channels[:, 1:] * plane)])
    flat = maps.reshape(-1)
    dx, dy = (1 if w > 1 else 0), (w if h > 1 else 0)
    top = flat[index] * (1 - fx) + flat[index + dx] * fx
    bottom = flat[index + dy] * (1 - fx) + flat[index + dx + dy] * fx
    values = top * (1 - fy) + bottom * fy
    return values[0], values[1]


def _empty() -> LimbCandidates:
    z = np.zeros(0, np.intp)
    return LimbCandidates(z, z, z, np.zeros(0, np.float32))
