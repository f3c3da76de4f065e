"""The event rules of one camera drawn on its frames: lines with their ``in`` arrow and
counts, zones with their occupancy, and the point each line follows on every person."""

from __future__ import annotations

import math

import cv2
import numpy as np

from streampose.events.engine import EventEngine
from streampose.events.geometry import Point
from streampose.events.line import LineCounter
from streampose.events.zone import ZoneWatcher
from streampose.pose.poses import Poses
from streampose.render.annotator import line_thickness

__all__ = ["RulesAnnotator"]

LINE_COLOR = (0, 255, 255)  # BGR yellow
ZONE_COLOR = (255, 200, 0)  # BGR light blue
ANCHOR_COLOR = (0, 0, 255)  # BGR red


class RulesAnnotator:
    """Draws the rules of ``engine`` (one camera's) and their live counts.

    A line is drawn from ``a`` to ``b`` with an arrow at its middle pointing to its
    ``in`` side, and labelled ``NAME in N out M``; a zone is outlined and labelled
    ``NAME: N inside``; each tracked person gets a dot at the point the lines follow.
    """

    def __init__(self, engine: EventEngine, *, thickness: int | None = None) -> None:
        self.engine, self.thickness = engine, thickness

    def annotate(self, scene: np.ndarray, poses: Poses, *,
                 source_scale: tuple[float, float] = (1.0, 1.0)) -> np.ndarray:
        """The rules and ``poses`` (in ``scene``'s pixels) drawn on ``scene``;
        ``source_scale``: ``scene``'s pixels -> the source picture's, where the rules are
        (a frame decode scaled down)."""
        width = line_thickness(scene, self.thickness)
        scale = max(0.4, min(scene.shape[:2]) / 900)
        for detector in self.engine.detectors:
            if isinstance(detector, LineCounter):
                _line(scene, detector, width, scale, source_scale)
                _anchors(scene, detector, poses, width)
            elif isinstance(detector, ZoneWatcher):
                _zone(scene, detector, width, scale, source_scale)
        return scene


def _on_scene(p: Point, source_scale: tuple[float, float]) -> Point:
    """A point of the source picture in the scene's pixels (pixel centres on integers)."""
    if source_scale == (1.0, 1.0):
        return p
    return ((p[0] + 0.5) / source_scale[0] - 0.5, (p[1] + 0.5) / source_scale[1] - 0.5)


def _line(scene: np.ndarray, counter: LineCounter, width: int, scale: float,
          source_scale: tuple[float, float]) -> None:
    a, b = (_on_scene(p, source_scale) for p in (counter.line.a, counter.line.b))
    cv2.line(scene, _px(a), _px(b), LINE_COLOR, width, cv2.LINE_8)
    mid = ((a[0] + b[0]) / 2, (a[1] + b[1]) / 2)
    length = math.dist(a, b)
    normal = (-(b[1] - a[1]) / length, (b[0] - a[0]) / length)  # towards the "in" side
    reach = max(12.0, min(40.0, length / 6))
    tip = (mid[0] + normal[0] * reach, mid[1] + normal[1] * reach)
    cv2.arrowedLine(scene, _px(mid), _px(tip), LINE_COLOR, width, cv2.LINE_8, tipLength=0.4)
    text = f"{counter.rule} in {counter.counts['in']} out {counter.counts['out']}"
    _label(scene, text, a, LINE_COLOR, scale)


def _zone(scene: np.ndarray, watcher: ZoneWatcher, width: int, scale: float,
          source_scale: tuple[float, float]) -> None:
    corners = [_on_scene(p, source_scale) for p in watcher.zone.polygon]
    polygon = np.array([_px(p) for p in corners], np.int32)
    cv2.polylines(scene, [polygon], True, ZONE_COLOR, width, cv2.LINE_8)
    _label(scene, f"{watcher.rule}: {watcher.occupancy} inside", corners[0], ZONE_COLOR,
           scale)


def _anchors(scene: np.ndarray, counter: LineCounter, poses: Poses, width: int) -> None:
    for keypoints, track_id in zip(poses.keypoints, poses.track_ids.tolist(), strict=True):
        point = counter.anchor(keypoints) if track_id >= 0 else None
        if point is not None:
            cv2.circle(scene, _px(point), 2 * width + 1, ANCHOR_COLOR, -1, cv2.LINE_AA)


def _label(scene: np.ndarray, text: str, at: Point, color: tuple[int, int, int],
           scale: float) -> None:
    font, weight = cv2.FONT_HERSHEY_SIMPLEX, max(1, round(scale * 1.5))
    (tw, th), base = cv2.getTextSize(text, font, scale, weight)
    x = int(min(max(at[0], 0), max(scene.shape[1] - tw - 4, 0)))
    y = int(min(max(at[1] - 6, th + 4), scene.shape[0] - base - 2))
    cv2.rectangle(scene, (x, y - th - 4), (x + tw + 4, y + base), (0, 0, 0), -1)
    cv2.putText(scene, text, (x + 2, y - 2), font, scale, color, weight, cv2.LINE_AA)


def _px(p: Point) -> tuple[int, int]:
    return round(p[0]), round(p[1])
