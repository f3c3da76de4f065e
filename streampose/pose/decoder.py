"""PafDecoder: heatmaps + part affinity fields -> Poses (bottom-up multi-person grouping)."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from streampose.config.sections import DecoderThresholds
from streampose.pose.grouping import assemble, people_to_arrays
from streampose.pose.paf import score_limbs
from streampose.pose.peaks import Peaks, find_peaks
from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton


class PafDecoder:
    """Decodes one image's maps: ``poses = decoder(heatmaps, pafs)``.

    ``heatmaps``: float32 (K or K+1, h, w), a trailing background channel is ignored;
    ``pafs``: float32 (2L, h, w) in the skeleton's PAF channel order. Keypoints come back
    in output-map pixel units (pixel centres at integer coordinates), sub-pixel.
    """

    def __init__(self, skeleton: Skeleton, thresholds: DecoderThresholds | None = None,
                 **overrides: Any) -> None:
        """``thresholds`` (default: :class:`DecoderThresholds`), with ``overrides`` of
        single values (``PafDecoder(COCO18, peak_threshold=0.1)``)."""
        if not skeleton.has_pafs:
            raise ValueError(f"PafDecoder: skeleton {skeleton.name!r} has no PAF channels")
        self.skeleton = skeleton
        try:
            self.thresholds = dataclasses.replace(thresholds or DecoderThresholds(),
                                                  **overrides)
        except TypeError as exc:
            raise ValueError(f"PafDecoder: {exc}") from None

    def __call__(self, heatmaps: np.ndarray, pafs: np.ndarray) -> Poses:
        heatmaps, pafs = self._validate(heatmaps, pafs)
        t = self.thresholds
        peaks = find_peaks(heatmaps, threshold=t.peak_threshold, radius=t.nms_radius,
                           subpixel=t.subpixel)
        return self._group(peaks, pafs)

    def from_peaks(self, peaks: Peaks, pafs: np.ndarray) -> Poses:
        """Group keypoint candidates found elsewhere (e.g. on the GPU) with ``pafs``."""
        if len(peaks.start) != self.skeleton.num_keypoints + 1:
            raise ValueError(f"peaks: {len(peaks.start) - 1} kinds, skeleton "
                             f"{self.skeleton.name} has {self.skeleton.num_keypoints}")
        return self._group(peaks, _finite(_as_maps("pafs", pafs, (2 * self.skeleton.num_limbs,))))

    def _group(self, peaks: Peaks, pafs: np.ndarray) -> Poses:
        t = self.thresholds
        limbs = score_limbs(peaks, pafs, self.skeleton, samples=t.paf_samples,
                            paf_threshold=t.paf_threshold, min_fraction=t.min_fraction)
        people = assemble(peaks, limbs, self.skeleton)
        kp, scores = people_to_arrays(people, peaks, self.skeleton.num_keypoints,
                                      min_parts=t.min_parts, min_mean_score=t.min_mean_score)
        return Poses(kp, scores, self.skeleton)

    def _validate(self, heatmaps: np.ndarray, pafs: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        k, limbs = self.skeleton.num_keypoints, self.skeleton.num_limbs
        heatmaps = _as_maps("heatmaps", heatmaps, (k, k + 1))[:k]
        pafs = _as_maps("pafs", pafs, (2 * limbs,))
        if heatmaps.shape[1:] != pafs.shape[1:]:
            raise ValueError(f"heatmaps and pafs: spatial sizes differ, "
                             f"{heatmaps.shape[1:]} vs {pafs.shape[1:]}")
        return _finite(heatmaps), _finite(pafs)


def _as_maps(name: str, maps: np.ndarray, channels: tuple[int, ...]) -> np.ndarray:
    if not isinstance(maps, np.ndarray):
        raise ValueError(f"{name}: expected a numpy array, got {type(maps).__name__}")
    if maps.dtype not in (np.float32, np.float16, np.float64):
        raise ValueError(f"{name}: expected float32, got dtype {maps.dtype}")
    if maps.ndim != 3 or maps.shape[0] not in channels:
        allowed = " or ".join(str(c) for c in channels)
        raise ValueError(f"{name}: expected shape ({allowed}, h, w), got {maps.shape}")
    return np.ascontiguousarray(maps, dtype=np.float32)


def _finite(maps: np.ndarray) -> np.ndarray:
    if np.isfinite(maps).all():
        return maps
    finite: np.ndarray = np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)
    return finite

