"""Synthetic ground truth for the fake backend: heatmaps and PAFs rendered from known people.

The fake backend (:mod:`streampose.backends.fake`) draws its person with these; the tests
(the decoder must recover what was drawn) and the decode benchmark (a crowd of any size)
use them too. Rendering follows OpenPose's training targets: a Gaussian per
keypoint (maximum over people), and a unit vector along each limb within ``paf_width``
of its segment (averaged where limbs of different people overlap).
"""

from __future__ import annotations

import numpy as np

from streampose.pose.skeleton import COCO18, Skeleton

__all__ = ["crowd", "render_maps", "standing_person"]

# A standing person facing the camera, COCO-18 order, in units of body height
# (x relative to the body axis, y from the top of the head).
_COCO18_TEMPLATE = np.array([
    (0.0, 0.08), (0.0, 0.2), (-0.12, 0.2), (-0.16, 0.38), (-0.18, 0.54), (0.12, 0.2),
    (0.16, 0.38), (0.18, 0.54), (-0.08, 0.52), (-0.09, 0.75), (-0.1, 0.98), (0.08, 0.52),
    (0.09, 0.75), (0.1, 0.98), (-0.03, 0.06), (0.03, 0.06), (-0.06, 0.08), (0.06, 0.08),
], np.float32)


def standing_person(*, x: float, top: float, height: float,
                    missing: tuple[int, ...] = ()) -> np.ndarray:
    """COCO-18 keypoints (18, 3) of a standing person; ``missing`` keypoints are zeroed."""
    kp = np.ones((COCO18.num_keypoints, 3), np.float32)
    kp[:, 0] = x + _COCO18_TEMPLATE[:, 0] * height
    kp[:, 1] = top + _COCO18_TEMPLATE[:, 1] * height
    kp[list(missing)] = 0.0
    return kp


def render_maps(people: list[np.ndarray], *, shape: tuple[int, int], skeleton: Skeleton = COCO18,
                sigma: float = 1.0, paf_width: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    """Heatmaps (K+1, h, w) with background last and PAFs (2L, h, w) for ``people``.

    Each person is (K, 3) of (x, y, visible) in map pixels; keypoints with visible == 0 or
    outside the map are not drawn, nor are the limbs touching them.
    """
    h, w = shape
    ys, xs = np.mgrid[0:h, 0:w].astype(np.float32)
    heat = np.zeros((skeleton.num_keypoints + 1, h, w), np.float32)
    pafs = np.zeros((2 * skeleton.num_limbs, h, w), np.float32)
    counts = np.zeros((skeleton.num_limbs, h, w), np.float32)
    for person in people:
        _draw_gaussians(heat, person, xs, ys, sigma, (h, w))
        _draw_limbs(pafs, counts, person, skeleton, xs, ys, paf_width, (h, w))
    for limb, (cx, cy) in enumerate(skeleton.paf_channels):
        n = np.maximum(counts[limb], 1.0)
        pafs[cx] /= n
        pafs[cy] /= n
    heat[-1] = 1.0 - heat[:-1].max(axis=0)
    return heat, pafs


def _visible(kp: np.ndarray, shape: tuple[int, int]) -> bool:
    h, w = shape
    return bool(kp[2] > 0 and 0 <= kp[0] <= w - 1 and 0 <= kp[1] <= h - 1)


def _draw_gaussians(heat: np.ndarray, person: np.ndarray, xs: np.ndarray, ys: np.ndarray,
                    sigma: float, shape: tuple[int, int]) -> None:
    for k, kp in enumerate(person):
        if _visible(kp, shape):
            g = np.exp(-((xs - kp[0]) ** 2 + (ys - kp[1]) ** 2) / (2 * sigma * sigma))
            np.maximum(heat[k], g, out=heat[k])


def _draw_limbs(pafs: np.ndarray, counts: np.ndarray, person: np.ndarray, skeleton: Skeleton,
                xs: np.ndarray, ys: np.ndarray, width: float, shape: tuple[int, int]) -> None:
    for limb, (a, b) in enumerate(skeleton.limbs):
        if not (_visible(person[a], shape) and _visible(person[b], shape)):
            continue
        start, end = person[a, :2], person[b, :2]
        length = float(np.hypot(*(end - start)))
        if length < 1e-3:
            continue
        ux, uy = (end - start) / length
        dx, dy = xs - start[0], ys - start[1]
        along = dx * ux + dy * uy
        across = np.abs(dx * uy - dy * ux)
        mask = (along >= 0) & (along <= length) & (across <= width)
        cx, cy = skeleton.paf_channels[limb]
        pafs[cx][mask] += ux
        pafs[cy][mask] += uy
        counts[limb][mask] += 1.0


def crowd(n: int, *, shape: tuple[int, int], height: float, seed: int = 0) -> list[np.ndarray]:
    """``n`` standing people on a jittered grid that fills a map of ``shape``."""
    rng = np.random.default_rng(seed)
    h, w = shape
    cols = int(np.ceil(np.sqrt(n * w / h)))
    rows = int(np.ceil(n / cols))
    people = []
    for i in range(n):
        r, c = divmod(i, cols)
        x = (c + 0.5) * w / cols + rng.uniform(-1, 1)
        top = r * (h / rows) + rng.uniform(0, max(h / rows - height, 0.1))
        people.append(standing_person(x=x, top=top, height=height))
    return people
