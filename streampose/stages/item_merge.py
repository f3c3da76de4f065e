"""One frame's result from its work items' results: people seen twice at seams merged.

Where the merge runs: in render, where the ticket order
(:class:`~streampose.stages.render_order.TicketOrder`) collects every item of a ticket.
A frame's items cross the inference workers and the postprocess workers in any order (a
shared input ring and a shared map ring); render is the one place that sees all of a
stream's results, in order, anyway. Routing a frame's items to one postprocess worker
instead would need a map ring per worker and would tie a frame's decoding to one
process, and the merge itself is cheap (greedy, over the few people of one frame) beside
the decoding that stays parallel. Each item's poses already come in frame pixels
(postprocess maps them through the item's transform, the crop offset folded in).

The method follows the head (:func:`~streampose.pose.merge.merge_by_boxes`,
:func:`~streampose.pose.merge.merge_by_oks`): people with boxes (keypoint heads) by box
NMS on intersection over the smaller box (a person cut at a tile's edge lies inside
the whole one); PAF poses by OKS, the kept pose taking the keypoints it lacks from its
twin. Only people of different items suppress each other.

Items at several scales (``--min-person-height`` adds coarser whole frames for taller
people: :meth:`~streampose.planning.work_items.ItemPlanner.coarse_scales`): before the
merge, each person is kept only from the scales that see people of their height well,
given ``person_px``, the head's best range of person heights in network pixels (low,
high): an item finer than the coarsest drops the people taller than ``high`` x
:data:`HIGH_MARGIN` network pixels (a person too large for that scale comes out cut or
poorly placed), and an item coarser than the finest drops those shorter than ``low`` x
:data:`LOW_MARGIN` (a finer scale sees them better). The margins leave a band of heights
that two scales both keep: the box merge then takes one of the two. People whose box reaches an
edge their crop shares with another crop (within ``edge_px``: cut by the tile, seen
whole by its neighbour when the overlap is wide enough) go after the people seen whole,
whatever their score: otherwise a confident half could suppress the whole person, and
the other half, overlapping only the whole one, would stay as a second person.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from streampose.pose import Poses
from streampose.pose.merge import concat_poses, merge_by_boxes, merge_by_oks
from streampose.pose.skeleton import Skeleton
from streampose.transport.messages import PoseResult

__all__ = ["BOX_THRESHOLD", "EDGE_PX", "HIGH_MARGIN", "LOW_MARGIN", "OKS_THRESHOLD", "SCALE_STEP",
           "ItemMerge", "cut_by_edges", "in_scale_range"]

BOX_THRESHOLD = 0.6  # intersection over the smaller box above which two boxes are one person
OKS_THRESHOLD = 0.5  # keypoint similarity at or above which two poses are one person
EDGE_PX = 3.0  # a box this close to a seam (an inner crop edge) is cut by it, frame pixels
LOW_MARGIN = 0.75  # coarser scales keep people from this fraction of the range's low end
HIGH_MARGIN = 1.25  # finer scales keep people up to this multiple of the range's high end
SCALE_STEP = 1.5  # items whose scales differ by this factor or more are different scales


@dataclass(frozen=True)
class ItemMerge:
    """``merge(results)``: a frame's item results (in item order) -> its one result."""

    skeleton: Skeleton
    box_threshold: float = BOX_THRESHOLD
    oks_threshold: float = OKS_THRESHOLD
    edge_px: float = EDGE_PX
    person_px: tuple[float, float] | None = None

    def __call__(self, results: Sequence[PoseResult]) -> PoseResult:
        if len(results) == 1:
            return results[0]
        parts = [self._poses(r) for r in results]
        if self.person_px is not None:
            parts = in_scale_range(parts, [r.header.transform[0] for r in results],
                                   self.person_px)
        groups = np.concatenate([np.full(len(p), i, np.int64) for i, p in enumerate(parts)])
        whole = ~np.concatenate([self._cut(r, p) for r, p in zip(results, parts, strict=True)])
        poses = self._merged(concat_poses(parts, self.skeleton), groups, whole)
        return PoseResult(results[0].header, poses.keypoints, poses.scores, poses.boxes)

    def _poses(self, result: PoseResult) -> Poses:
        assert result.keypoints is not None and result.scores is not None  # not an EOS
        return Poses(result.keypoints, result.scores, self.skeleton, boxes=result.boxes)

    def _cut(self, result: PoseResult, poses: Poses) -> np.ndarray:
        header = result.header
        return cut_by_edges(poses.person_boxes(), header.crop, width=header.width,
                            height=header.height, margin=self.edge_px)

    def _merged(self, poses: Poses, groups: np.ndarray, whole: np.ndarray) -> Poses:
        if poses.boxes is not None:
            return merge_by_boxes(poses, groups, threshold=self.box_threshold, overlap="ios",
                                  priority=whole)
        return merge_by_oks(poses, groups, threshold=self.oks_threshold, priority=whole)


def in_scale_range(parts: Sequence[Poses], scales: Sequence[float],
                   person_px: tuple[float, float]) -> list[Poses]:
    """``parts`` (one item's people each, frame pixels; ``scales``: each item's network
    pixels per frame pixel) without the people outside their scale's range (see the
    module doc); unchanged when the items are all at one scale."""
    finest, coarsest = max(scales), min(scales)
    if finest < coarsest * SCALE_STEP:
        return list(parts)
    low, high = person_px
    kept = []
    for poses, scale in zip(parts, scales, strict=True):
        boxes = poses.person_boxes()
        tall = (boxes[:, 3] - boxes[:, 1]) * scale
        keep = np.ones(len(poses), bool)
        if scale * SCALE_STEP <= finest:
            keep &= tall >= low * LOW_MARGIN
        if scale >= coarsest * SCALE_STEP:
            keep &= tall <= high * HIGH_MARGIN
        kept.append(poses if keep.all() else poses.select(keep))
    return kept


def cut_by_edges(boxes: np.ndarray, crop: tuple[int, int, int, int], *, width: int,
                 height: int, margin: float) -> np.ndarray:
    """bool ``(P,)``: which ``boxes`` (x1, y1, x2, y2, frame pixels) reach within
    ``margin`` of an edge of ``crop`` (x, y, w, h) that lies inside the ``width`` x
    ``height`` frame (a seam; the frame's own edges cut nobody). A crop of width 0 is the
    whole frame."""
    x, y, w, h = crop
    cut = np.zeros(len(boxes), bool)
    if w <= 0 or h <= 0:
        return cut
    edges = ((0, x, x > 0), (1, y, y > 0))
    for axis, low, inner in edges:
        if inner:
            cut |= boxes[:, axis] <= low + margin
    far = ((2, x + w, x + w < width), (3, y + h, y + h < height))
    for column, high, inner in far:
        if inner:
            cut |= boxes[:, column] >= high - margin
    return cut
