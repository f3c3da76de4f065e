"""Scoring for benchmarks/recall.py: found poses against hand-checked person boxes (pure).

The matching rule (also in benchmarks/recall_gt/README.md):
  - a pose's *found* keypoints are those with confidence above ``min_score`` (default
    0.2); a pose with none above it uses every keypoint with confidence > 0 (so a weak
    pose is still scored: it can match, or count as a false positive). A pose without
    any keypoint is not scored;
  - a pose *fits* a box when more than ``min_fraction`` (0.5) of its found keypoints lie
    inside the box expanded by ``margin`` (10%) of its width on the left and the right
    and of its height at the top and the bottom (the boxes are tight on the silhouette:
    wrists and ankles sit on their edge, and a keypoint one or two pixels off on a
    person 15 px wide would fall out);
  - one-to-one, greedy: over every fitting (pose, box) pair, the highest fraction first,
    ties broken by the IoU of the box with the pose's keypoint bounding box. Counted boxes
    are matched first; only the poses left over are then matched (one-to-one, the same
    way) to ``ignore`` boxes (people mostly occluded or cut by the frame edge);
  - a pose matched to a counted box is a hit; one matched to an ignore box counts
    neither way; every other scored pose is a false positive;
  - recall = hits / counted boxes; precision = hits / (scored poses - poses on ignore
    boxes).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

Keypoint = Sequence[float]  # x, y, confidence (frame pixels)
Pose = Sequence[Keypoint]
BoxXYXY = tuple[float, float, float, float]


@dataclass(frozen=True)
class Person:
    """One hand-checked person: a box in frame pixels; ``ignore`` when mostly hidden."""

    box: BoxXYXY
    ignore: bool = False


@dataclass(frozen=True)
class Rule:
    """The matching rule's parameters (see the module docstring)."""

    min_score: float = 0.2
    margin: float = 0.1
    min_fraction: float = 0.5


@dataclass(frozen=True)
class FrameScore:
    """One frame: counted people, poses scored, hits, poses on ignore boxes."""

    people: int
    poses: int
    hits: int
    ignored: int

    @property
    def false_positives(self) -> int:
        return self.poses - self.hits - self.ignored


@dataclass(frozen=True)
class Totals:
    """Frame scores added up, with the ratios the benchmark prints."""

    frames: int
    people: int
    poses: int
    hits: int
    ignored: int

    @property
    def recall(self) -> float:
        return self.hits / self.people if self.people else 0.0

    @property
    def precision(self) -> float:
        scored = self.poses - self.ignored
        return self.hits / scored if scored else 1.0

    @property
    def people_per_frame(self) -> float:
        return self.people / self.frames if self.frames else 0.0

    @property
    def found_per_frame(self) -> float:
        return self.poses / self.frames if self.frames else 0.0


def found_points(pose: Pose, min_score: float) -> list[tuple[float, float]]:
    """The keypoints a pose found: above ``min_score``, else any with confidence > 0."""
    strong = [(p[0], p[1]) for p in pose if p[2] > min_score]
    return strong or [(p[0], p[1]) for p in pose if p[2] > 0]


def expanded(box: BoxXYXY, margin: float) -> BoxXYXY:
    """``box`` grown by ``margin`` of its width on each side and of its height top and
    bottom."""
    x1, y1, x2, y2 = box
    dx, dy = (x2 - x1) * margin, (y2 - y1) * margin
    return x1 - dx, y1 - dy, x2 + dx, y2 + dy


def inside_fraction(points: Sequence[tuple[float, float]], box: BoxXYXY) -> float:
    """The fraction of ``points`` inside ``box`` (edges included); 0 for no points."""
    if not points:
        return 0.0
    x1, y1, x2, y2 = box
    inside = sum(1 for x, y in points if x1 <= x <= x2 and y1 <= y <= y2)
    return inside / len(points)


def points_box(points: Sequence[tuple[float, float]]) -> BoxXYXY:
    """The bounding box of ``points`` (not empty)."""
    xs, ys = [p[0] for p in points], [p[1] for p in points]
    return min(xs), min(ys), max(xs), max(ys)


def iou(a: BoxXYXY, b: BoxXYXY) -> float:
    """Intersection over union of two boxes; 0 when both are empty."""
    w = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    h = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = w * h
    union = _area(a) + _area(b) - inter
    return inter / union if union > 0 else 0.0


def _area(box: BoxXYXY) -> float:
    return max(0.0, box[2] - box[0]) * max(0.0, box[3] - box[1])


def candidate_pairs(points: Sequence[Sequence[tuple[float, float]]],
                    boxes: Sequence[BoxXYXY], rule: Rule) -> list[tuple[float, float, int, int]]:
    """(fraction, IoU, pose index, box index) for every pose that fits a box, best first."""
    pairs = []
    for i, pts in enumerate(points):
        for j, box in enumerate(boxes):
            fraction = inside_fraction(pts, expanded(box, rule.margin))
            if fraction > rule.min_fraction:
                pairs.append((fraction, iou(points_box(pts), box), i, j))
    return sorted(pairs, key=lambda p: (-p[0], -p[1], p[2], p[3]))


def greedy_match(points: Sequence[Sequence[tuple[float, float]]], boxes: Sequence[BoxXYXY],
                 rule: Rule) -> dict[int, int]:
    """Pose index -> box index, one-to-one, by the greedy rule of the module docstring."""
    matched: dict[int, int] = {}
    taken: set[int] = set()
    for _, _, pose, box in candidate_pairs(points, boxes, rule):
        if pose not in matched and box not in taken:
            matched[pose] = box
            taken.add(box)
    return matched


def score_frame(poses: Iterable[Pose], people: Sequence[Person], rule: Rule = Rule()
                ) -> FrameScore:
    """One frame's poses against its people: counted boxes first, then ignore boxes."""
    points = [pts for pts in (found_points(p, rule.min_score) for p in poses) if pts]
    counted = [p.box for p in people if not p.ignore]
    hits = greedy_match(points, counted, rule)
    rest = [pts for i, pts in enumerate(points) if i not in hits]
    ignored = greedy_match(rest, [p.box for p in people if p.ignore], rule)
    return FrameScore(people=len(counted), poses=len(points), hits=len(hits),
                      ignored=len(ignored))


def total(scores: Iterable[FrameScore]) -> Totals:
    """Frame scores added up."""
    items = list(scores)
    return Totals(frames=len(items), people=sum(s.people for s in items),
                  poses=sum(s.poses for s in items), hits=sum(s.hits for s in items),
                  ignored=sum(s.ignored for s in items))


def score_run(poses_by_frame: Mapping[int, Sequence[Pose]],
              truth: Mapping[int, Sequence[Person]], rule: Rule = Rule()) -> Totals:
    """Every ground-truth frame scored (a frame the run did not output has no poses)."""
    return total(score_frame(poses_by_frame.get(frame, ()), people, rule)
                 for frame, people in sorted(truth.items()))


def parse_truth(video: Mapping[str, object]) -> dict[int, list[Person]]:
    """One video's entry of recall_gt/people.json -> frame index -> people."""
    frames = video["frames"]
    if not isinstance(frames, Mapping):
        raise ValueError("'frames' must map frame indices to lists of boxes")
    return {int(k): [_person(item) for item in v] for k, v in frames.items()}


def _person(item: Mapping[str, object]) -> Person:
    box = item["box"]
    if not isinstance(box, Sequence) or len(box) != 4:
        raise ValueError(f"a box is [x1, y1, x2, y2], not {box!r}")
    x1, y1, x2, y2 = (float(v) for v in box)
    return Person(box=(x1, y1, x2, y2), ignore=bool(item.get("ignore", False)))
