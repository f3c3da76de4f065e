"""Motion regions: spend inference where something moves, as NVR software does.

:class:`MotionDetector` (one per stream) finds moving areas cheaply: the frame is
shrunk to a small grey image, compared with a background model, thresholded, dilated,
and its connected blobs' boxes are merged and mapped back to frame pixels.

The background model is a **running average** (``cv2.accumulateWeighted``): each new
small frame is blended in with weight ``learning_rate``. It was chosen over MOG2 because
it is one float image and one parameter, costs a few operations per pixel of an already
tiny image, is exactly deterministic (the same frames give the same boxes, which the
tests rely on), and needs no warm-up history beyond its first frame. What MOG2 adds
(multi-modal backgrounds such as swaying trees, shadow labelling) matters less here:
a false region only costs one extra crop, and a person who stops moving and fades into
the average is kept by :class:`RegionPlanner` through their track.

:class:`RegionPlanner` turns that into the plan for one frame: ``"full"`` (a whole-frame
pass: the first frame, every ``full_every`` frames, after a change of frame size, and
when the regions would cover most of the frame), ``"regions"`` (crops around motion and
around the people already tracked, so a person who stops moving is not lost) or
``"still"`` (no motion, nobody tracked: no inference at all). It counts what it planned
(:class:`RegionCounts`).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from streampose.errors import ConfigError
from streampose.pose.crops import Crop, regions_to_crops, whole_frame

__all__ = ["MotionDetector", "MotionSettings", "PlanKind", "RegionCounts", "RegionPlan",
           "RegionPlanner"]

log = logging.getLogger(__name__)

PlanKind = Literal["full", "regions", "still"]
Boxes = np.ndarray | Sequence[Sequence[float]]


@dataclass(frozen=True)
class MotionSettings:
    """The ``[motion]`` table.

    - ``width``: width of the small grey frame motion is found on (pixels; the height
      keeps the aspect ratio; a narrower frame is used as it is).
    - ``learning_rate``: weight of each new frame in the running-average background.
    - ``threshold``: grey-level difference from the background that counts as motion.
    - ``blur``: Gaussian kernel size on the small frame (odd; 1 = none), against noise.
    - ``dilate``: 3x3 dilations of the mask, joining the parts of one mover.
    - ``min_area``: smallest blob kept, in pixels of the small (dilated) mask.
    - ``full_every``: a whole-frame pass every this many frames (the first frame too).
    - ``margin``, ``min_side``, ``max_regions``: how motion and tracked boxes become
      crops (:func:`streampose.pose.crops.regions_to_crops`; ``min_side`` in frame pixels).
    - ``full_area``: regions covering more than this fraction of the frame give a
      whole-frame pass instead (cheaper than many overlapping crops).
    """

    width: int = 160
    learning_rate: float = 0.05
    threshold: int = 20
    blur: int = 3
    dilate: int = 2
    min_area: int = 4
    full_every: int = 50
    margin: float = 0.25
    min_side: int = 64
    max_regions: int = 4
    full_area: float = 0.5

    def __post_init__(self) -> None:
        _int_in("width", self.width, 8, 4096)
        _float_in("learning_rate", self.learning_rate, 0.0, 1.0, low_open=True)
        _int_in("threshold", self.threshold, 1, 255)
        _int_in("blur", self.blur, 1, 31)
        if self.blur % 2 == 0:
            raise ConfigError(f"motion: blur = {self.blur} must be odd (1..31)")
        _int_in("dilate", self.dilate, 0, 20)
        _int_in("min_area", self.min_area, 1, 1 << 20)
        _int_in("full_every", self.full_every, 1, 1 << 30)
        _float_in("margin", self.margin, 0.0, 10.0)
        _int_in("min_side", self.min_side, 1, 1 << 16)
        _int_in("max_regions", self.max_regions, 1, 64)
        _float_in("full_area", self.full_area, 0.0, 1.0, low_open=True)


def _int_in(name: str, value: object, low: int, high: int) -> None:
    ok = isinstance(value, (int, np.integer)) and not isinstance(value, bool)
    if not (ok and low <= value <= high):  # type: ignore[operator]
        raise ConfigError(f"motion: {name} = {value!r} must be an integer in {low}..{high}")


def _float_in(name: str, value: object, low: float, high: float, *,
              low_open: bool = False) -> None:
    ok = isinstance(value, (int, float, np.integer, np.floating)) and not isinstance(value, bool)
    v = float(value) if ok else math.nan  # type: ignore[arg-type]
    inside = (low < v if low_open else low <= v) and v <= high
    if not inside:
        bracket = "(" if low_open else "["
        raise ConfigError(f"motion: {name} = {value!r} must be a number in {bracket}{low}, "
                          f"{high}]")


class MotionDetector:
    """Moving areas of one stream's frames (see the module doc); feed every frame in
    order. The first frame (and the first after a change of frame size) primes the
    background and gives no motion."""

    def __init__(self, *, settings: MotionSettings | None = None) -> None:
        self.settings = settings or MotionSettings()
        self._kernel = np.ones((3, 3), np.uint8)
        self.reset()

    def reset(self) -> None:
        """Forget the background (a new stream, or a cut)."""
        self._background: np.ndarray | None = None
        self._mask: np.ndarray | None = None
        self._restarted = False
        self._frame_size: tuple[int, ...] = ()

    @property
    def primed(self) -> bool:
        """Whether there is a background to compare with."""
        return self._background is not None

    @property
    def restarted(self) -> bool:
        """Whether the last frame (re)started the background: its motion is unknown."""
        return self._restarted

    @property
    def mask(self) -> np.ndarray | None:
        """The last frame's motion mask (uint8 0/255, small size), None before a frame."""
        return self._mask

    def detect(self, frame: np.ndarray) -> np.ndarray:
        """int64 ``(n, 4)`` boxes (x1, y1, x2, y2; x2, y2 exclusive) of the moving areas of
        ``frame`` (``(H, W, 3)`` BGR or ``(H, W)`` grey, uint8), in frame pixels, merged so
        none overlap, top to bottom. Updates the background."""
        import cv2  # OpenCV comes with the first frame (tests/stages/test_imports.py)

        small = self._small(frame)
        background = self._background
        size = frame.shape[:2]
        self._restarted = background is None or size != self._frame_size
        if background is None or size != self._frame_size:
            if background is not None:
                log.debug("motion: frame size changed, background restarted")
            self._frame_size = size
            self._background = small.astype(np.float32)
            self._mask = np.zeros(small.shape, np.uint8)
            return np.zeros((0, 4), np.int64)
        self._mask = self._motion_mask(small, background)
        cv2.accumulateWeighted(small, background, self.settings.learning_rate)
        return self._boxes(self._mask, frame.shape[1], frame.shape[0])

    def _small(self, frame: np.ndarray) -> np.ndarray:
        import cv2  # OpenCV comes with the first frame (tests/stages/test_imports.py)

        if frame.ndim not in (2, 3) or frame.dtype != np.uint8:
            raise ValueError(f"MotionDetector: expected a uint8 (H, W[, 3]) frame, got "
                             f"{frame.dtype} {frame.shape}")
        grey = frame if frame.ndim == 2 else cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        h, w = grey.shape
        width = min(w, self.settings.width)
        height = max(1, round(h * width / w))
        if (width, height) != (w, h):
            grey = cv2.resize(grey, (width, height), interpolation=cv2.INTER_AREA)
        if self.settings.blur > 1:
            grey = cv2.GaussianBlur(grey, (self.settings.blur, self.settings.blur), 0)
        return grey

    def _motion_mask(self, small: np.ndarray, background: np.ndarray) -> np.ndarray:
        import cv2  # OpenCV comes with the first frame (tests/stages/test_imports.py)

        diff = cv2.absdiff(small.astype(np.float32), background)
        mask: np.ndarray = np.where(diff > self.settings.threshold, 255, 0).astype(np.uint8)
        if self.settings.dilate:
            mask = cv2.dilate(mask, self._kernel, iterations=self.settings.dilate)
        return mask

    def _boxes(self, mask: np.ndarray, frame_w: int, frame_h: int) -> np.ndarray:
        import cv2  # OpenCV comes with the first frame (tests/stages/test_imports.py)

        count, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        blobs = stats[1:count]
        blobs = blobs[blobs[:, cv2.CC_STAT_AREA] >= self.settings.min_area]
        if not len(blobs):
            return np.zeros((0, 4), np.int64)
        sx, sy = frame_w / mask.shape[1], frame_h / mask.shape[0]
        x, y, w, h = (blobs[:, i].astype(np.float64) for i in range(4))
        boxes = np.stack([np.floor(x * sx), np.floor(y * sy),
                          np.ceil((x + w) * sx), np.ceil((y + h) * sy)], axis=1)
        merged = regions_to_crops(boxes, frame_w, frame_h, min_side=1, margin=0.0,
                                  max_crops=len(boxes))
        return np.array([c.box for c in merged], np.int64).reshape(-1, 4)


@dataclass(frozen=True)
class RegionPlan:
    """What to infer on one frame: ``kind`` and its ``crops`` (``"full"``: the whole frame;
    ``"regions"``: one or more crops; ``"still"``: none). ``motion`` holds the motion boxes
    found (frame pixels), for drawing and debugging."""

    kind: PlanKind
    crops: tuple[Crop, ...]
    motion: tuple[tuple[int, int, int, int], ...] = ()


@dataclass(frozen=True)
class RegionCounts:
    """Frames planned so far, by kind, and the regions of the ``"regions"`` frames."""

    frames: int = 0
    full: int = 0
    with_regions: int = 0
    regions: int = 0
    still: int = 0

    @property
    def regions_per_frame(self) -> float:
        """Mean crops per frame planned as regions (0.0 when none was)."""
        return self.regions / self.with_regions if self.with_regions else 0.0

    def added(self, plan: RegionPlan) -> RegionCounts:
        return RegionCounts(
            frames=self.frames + 1, full=self.full + (plan.kind == "full"),
            with_regions=self.with_regions + (plan.kind == "regions"),
            regions=self.regions + (len(plan.crops) if plan.kind == "regions" else 0),
            still=self.still + (plan.kind == "still"))


class RegionPlanner:
    """One stream's plan per frame (see the module doc). ``scale`` is given to every crop
    (network input pixels per frame pixel)."""

    def __init__(self, *, settings: MotionSettings | None = None, scale: float = 1.0) -> None:
        self.settings = settings or MotionSettings()
        self.scale = scale
        self.detector = MotionDetector(settings=self.settings)
        self.reset()

    def reset(self) -> None:
        """Start over: background, frame count (the next frame is a full pass), counters."""
        self.detector.reset()
        self._index = 0
        self._counts = RegionCounts()

    @property
    def counts(self) -> RegionCounts:
        return self._counts

    def plan(self, frame: np.ndarray, tracked: Boxes = (),
             motion: np.ndarray | None = None) -> RegionPlan:
        """The plan for the next ``frame`` (every frame must pass here, in order).
        ``tracked``: ``(n, 4)`` boxes (x1, y1, x2, y2, frame pixels) of the people being
        tracked, e.g. the last result's ``Poses.person_boxes()``; empty boxes are
        ignored. ``motion``: the boxes :attr:`detector` already found on ``frame``
        (``--interval auto`` feeds it every frame), None: detect them here."""
        if motion is None:
            motion = self.detector.detect(frame)
        h, w = frame.shape[:2]
        due = self._index % self.settings.full_every == 0 or self.detector.restarted
        self._index += 1
        plan = self._choose(motion, tracked, w, h, due)
        self._counts = self._counts.added(plan)
        return plan

    def _choose(self, motion: np.ndarray, tracked: Boxes, w: int, h: int, due: bool
                ) -> RegionPlan:
        moved = tuple((int(a), int(b), int(c), int(d)) for a, b, c, d in motion.tolist())
        full = RegionPlan("full", (whole_frame(w, h, scale=self.scale),), moved)
        if due:
            return full
        boxes = np.concatenate([motion.astype(np.float64),
                                np.asarray(tracked, np.float64).reshape(-1, 4)])
        s = self.settings
        crops = regions_to_crops(boxes, w, h, min_side=s.min_side, margin=s.margin,
                                 max_crops=s.max_regions, scale=self.scale)
        if not crops:
            return RegionPlan("still", (), moved)
        if sum(c.w * c.h for c in crops) > s.full_area * w * h:
            return full
        return RegionPlan("regions", tuple(crops), moved)
