"""PafDecoder: heatmaps + part affinity fields -> Poses (bottom-up multi-person grouping)."""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from streampose.config.fields import Section, option
from streampose.pose.grouping import assemble, people_to_arrays
from streampose.pose.paf import score_limbs
from streampose.pose.peaks import Peaks, find_peaks
from streampose.pose.poses import Poses
from streampose.pose.skeleton import Skeleton


@dataclass(frozen=True)
class DecoderThresholds(Section):
    """[decoder]: grouping parameters (pipeline files and the Python API; no CLI flags).

    Defaults follow OpenPose except ``peak_threshold``: peaks are lower at the network's
    output resolution than on upsampled maps, so it is 0.05 rather than 0.1. Every value
    is checked on construction (ConfigError naming the key, the value and the range).
    """

    table: ClassVar[str] = "decoder"

    peak_threshold: float = option(0.05, low=0.0, high=1.0, low_open=True, flag="",
                                   help="minimum heatmap value of a keypoint candidate")
    nms_radius: int = option(1, low=1, flag="", help=(
        "half-size of the non-maximum suppression window, in map pixels"))
    paf_threshold: float = option(0.05, low=-1.0, high=1.0, flag="", help=(
        "minimum PAF alignment for a sample along a limb to count"))
    paf_samples: int = option(10, low=2, flag="", help="points sampled along each candidate limb")
    min_fraction: float = option(0.8, low=0.0, high=1.0, flag="", help=(
        "fraction of samples that must exceed paf_threshold"))
    min_parts: int = option(3, low=1, flag="", help="people with fewer keypoints are dropped")
    min_mean_score: float = option(0.2, low=0.0, flag="", help=(
        "people whose total score per keypoint is lower are dropped"))
    subpixel: bool = option(True, flag="", help="refine peaks to sub-pixel positions")


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
    return np.nan_to_num(maps, nan=0.0, posinf=0.0, neginf=0.0)

