"""Work items: what a frame becomes between preprocess and postprocess.

A :class:`WorkItem` is a crop of one frame (the whole frame, a tile, later a motion
region; :class:`~streampose.pose.crops.Crop`) at one scale, with the letterbox that puts
the crop into its own network input. Its :attr:`WorkItem.transform` is that letterbox's
transform with the crop's offset folded in, so the item header's transform maps the
network input straight back to *frame* pixels and postprocess maps keypoints exactly as
for a whole frame. Every item of a frame carries the frame's ticket and its index among
the frame's items; render's ticket order merges them back into one result per frame
(:mod:`streampose.stages.item_merge`).

:class:`ItemPlanner` plans a frame size's items, once per size:

- the scale: ``--height`` when given (the explicit override), else the one
  ``--min-person-height`` asks for (:func:`~streampose.pose.crops.scale_for_person_height`
  with the head's best range of person heights, :data:`BEST_PERSON_PX`; a share ``N%``
  of the frame's height is that many frame pixels of this size, rounded), else the
  spec's input size (today's behaviour);
- tiles off (the default): one item, the whole frame at that scale;
- tiles on (``--tiles auto``): a frame whose input at that scale is larger than one
  tile's (the spec's input for the frame at ``--tile-size``, default its input height)
  is cut into overlapping tiles at that scale (:func:`~streampose.pose.crops.plan_tiles`,
  ``--tile-overlap`` frame pixels); a frame that fits stays one item. A whole-frame
  input larger than :data:`MAX_WHOLE_PIXELS` is tiled even with tiles off (the run
  logs it once per frame size), so no person height or camera size can ask for ring
  slots of gigabytes.

Smallest to tallest (:meth:`ItemPlanner.coarse_scales`): ``--min-person-height`` picks the
scale that puts the smallest person at the low end of the head's range of person heights
(:data:`BEST_PERSON_PX`, a factor of 3-3.5 wide), so people taller than that range's top
are too large at that scale (a 400 px person of a photo is 1,300 network pixels at the
scale of a 40 px one). While the range seen so far stops short of the frame's height,
the planner adds the whole frame at one more, coarser scale, the one that puts the
tallest person seen so far at the range's low end (for vtest at 40 px: 3.25, then 0.94,
about a tenth of the pixels); the merge keeps each person from the scale that sees them
best (:mod:`streampose.stages.item_merge`). With ``--height``, or without a person
height, one scale as before. Motion regions add the coarse whole frames too.

Motion regions (:meth:`ItemPlanner.regions`): crops of a frame, each at the scale the
whole frame would have (the people in a crop look as they would in a whole-frame pass),
grown about their centre so that their network input is a multiple of
:data:`REGION_QUANTUM` pixels a side (fewer distinct input shapes, so items batch
together and a shape-specialised backend builds few engines), clipped to the frame. Each
side of a crop's input is then no longer than the whole frame's, so a crop always fits
the ring slots sized for the whole frame (:meth:`ItemPlanner.letterboxes`); with tiles
on, a crop larger than a tile is cut into tiles inside the crop, and fits a tile's slot.

A planner may also give no item for a frame: preprocess then sends one pass-through item
(:data:`~streampose.transport.messages.FLAG_PASS`), which no network runs on and which
reaches render as a frame with no people (later: still frames, interval frames).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from streampose.arith import round_up
from streampose.config.fields import percent_of
from streampose.errors import ConfigError
from streampose.pose.crops import Crop, plan_tiles, scale_for_person_height, whole_frame
from streampose.pose.letterbox import Letterbox, Transform, plan_for_spec

if TYPE_CHECKING:
    from streampose.config import PipelineConfig
    from streampose.models.spec import ModelSpec

__all__ = ["BEST_PERSON_PX", "MAX_COARSE_SCALES", "MAX_WHOLE_PIXELS", "REGION_QUANTUM",
           "ItemPlanner", "WorkItem"]

# A motion region's network input sides are grown to multiples of this (network pixels,
# rounded up to the model's stride), where the frame has room.
REGION_QUANTUM = 64

# The most whole-frame scales added below --min-person-height's (each covers the head's
# range of person heights, a factor of 3-3.5: two reach from a 1% person to the frame).
MAX_COARSE_SCALES = 3

# The largest whole-frame network input (pixels) without --tiles: above it the frame is
# cut into tiles anyway (a 40 px person height on a 4K camera asks for a 12480x7020
# input, gigabytes per ring slot; tiles keep the slots at the tile's size).
MAX_WHOLE_PIXELS = 4096 * 2304
SCALE_STEP = 1.5  # a coarse scale is at least this factor below the one before

# The person heights, in network input pixels, each head finds best: (low, high).
# Measured roughly (to be redone with benchmarks/recall.py, then moved into the model
# specs): the recall ground truth of vtest (12 frames, 72 people) and its 1080p version
# (5 frames, 32 people) run whole-frame at several input sizes, each person's recall
# bucketed by its height times the scale (this worktree, 2026-12-07):
# - openpose-mnthin-coco18 (--height 368..1104): recall 0.40 at 40-60 px, 0.63 at 60-80,
#   0.77 at 80-100, 0.94-0.97 from 100 to 260, 4/4 at 260-340 (no larger person seen);
#   openpose-mnv2s-coco18 alike but noisier (0.91 at 100-130, 0.96 at 160-200);
# - yolo11n-pose (long side 480..1920): 0.37 at 80-100 px, 0.84 at 100-130, 0.96 at
#   130-160, all from 160 to 450 (the largest seen).
# The high ends are where the samples stop, not where recall drops.
BEST_PERSON_PX: dict[str, tuple[float, float]] = {
    "paf": (100.0, 300.0),
    "keypoints": (130.0, 450.0),
}


@dataclass(frozen=True)
class WorkItem:
    """``crop`` of a frame, letterboxed into its network input by ``letterbox``."""

    crop: Crop
    letterbox: Letterbox

    @property
    def transform(self) -> Transform:
        """The item header's ``(scale_x, scale_y, pad_x, pad_y)``: the letterbox's, with
        the crop's offset folded into the pads (input = (frame - offset) * scale + pad),
        so :func:`~streampose.pose.letterbox.input_to_frame` gives frame pixels."""
        sx, sy, px, py = self.letterbox.transform
        if self.crop.x == 0 and self.crop.y == 0:
            return (sx, sy, px, py)
        return (sx, sy, px - self.crop.x * sx, py - self.crop.y * sy)

    def cut(self, frame: np.ndarray) -> np.ndarray:
        """The crop's pixels: a view of ``frame`` (the frame itself when whole)."""
        height, width = frame.shape[:2]
        if self.crop.box == (0, 0, width, height):
            return frame
        rows, cols = self.crop.slices
        return frame[rows, cols]


@dataclass(frozen=True)
class ItemPlanner:
    """A frame size's work items (see the module doc); pure, cheap to keep per size.

    ``height``: ``--height``; ``min_person_height``: ``--min-person-height`` (frame
    pixels, or a share of the frame's height written ``N%``); ``tiles``: ``--tiles
    auto``; ``overlap``: ``--tile-overlap`` (frame pixels); ``tile_size``:
    ``--tile-size`` (None: the spec's input height).
    """

    spec: ModelSpec
    height: int | None = None
    min_person_height: int | str | None = None
    tiles: bool = False
    overlap: int = 48
    tile_size: int | None = None

    @classmethod
    def from_config(cls, config: PipelineConfig, spec: ModelSpec) -> ItemPlanner:
        """The planner of a run: ``[model]`` height and person height, ``[tiles]``."""
        model, tiles = config.model, config.tiles
        return cls(spec=spec, height=model.height, min_person_height=model.min_person_height,
                   tiles=tiles.enabled, overlap=tiles.overlap, tile_size=tiles.size)

    def plan(self, width: int, height: int) -> tuple[WorkItem, ...]:
        """The items of a ``width`` x ``height`` frame (at least one): the frame at its
        scale (whole, or tiles), then the coarser scales of :meth:`coarse_scales`."""
        items = self._items_at(width, height, self._whole_height(width, height))
        for scale in self.coarse_scales(height):
            items += self._items_at(width, height, self._height_at(width, height, scale))
        return items

    def _items_at(self, width: int, height: int, letterbox_height: int | None
                  ) -> tuple[WorkItem, ...]:
        """The frame letterboxed with ``letterbox_height``: one item, or (tiles on, an
        input larger than a tile's) overlapping tiles at that scale."""
        whole = plan_for_spec(self.spec, src_w=width, src_h=height, height=letterbox_height)
        item = WorkItem(whole_frame(width, height, scale=_scale(whole)), whole)
        if not self.tiled(whole):
            return (item,)
        tile = plan_for_spec(self.spec, src_w=width, src_h=height, height=self.tile_size)
        if whole.in_w <= tile.in_w and whole.in_h <= tile.in_h:
            return (item,)
        return self._tiles(width, height, tile, _scale(whole))

    def tiled(self, whole: Letterbox) -> bool:
        """Whether a frame whose whole input is ``whole`` is cut into tiles: with
        ``--tiles auto``, or when a person height (not an explicit ``--height``, which
        is taken as asked: the run refuses what does not fit its memory) asks for an
        input larger than :data:`MAX_WHOLE_PIXELS` (a small person on a large frame)."""
        by_person = self.height is None and self.min_person_height is not None
        return self.tiles or (by_person and whole.in_w * whole.in_h > MAX_WHOLE_PIXELS)

    def oversized(self, width: int, height: int) -> bool:
        """Whether frames of this size are tiled only because their input is too large
        (``--tiles`` off): the run says so once."""
        whole = plan_for_spec(self.spec, src_w=width, src_h=height,
                              height=self._whole_height(width, height))
        return not self.tiles and self.tiled(whole)

    def coarse_scales(self, height: int) -> tuple[float, ...]:
        """The whole-frame scales added below ``--min-person-height``'s for frames
        ``height`` tall (see the module doc): none unless a person height is asked for
        (and no ``--height``); else, while the tallest person the last scale sees well
        (the range's high end at that scale) is shorter than the frame, one more scale:
        the finest that still fits a frame-tall person in the range, but at least
        :data:`SCALE_STEP` coarser than the last and no coarser than puts the last one's
        tallest person at the range's low end (no gap between the scales' ranges)."""
        if self.height is not None or self.min_person_height is None:
            return ()
        low, high = self._best_range()
        scales = [self.person_scale(height)]
        while high / scales[-1] < height and len(scales) <= MAX_COARSE_SCALES:
            last = scales[-1]
            scales.append(max(low * last / high, min(high / height, last / SCALE_STEP)))
        return tuple(scales[1:])

    def regions(self, width: int, height: int, crops: Sequence[Crop], *, limit: int,
                tallest: float | None = None) -> tuple[WorkItem, ...] | None:
        """The items of ``crops`` (motion regions, frame pixels) of a ``width`` x
        ``height`` frame, each at the whole frame's scale (see the module doc), then the
        whole frame at the coarser scales, unless ``tallest`` (the tallest thing moving
        or tracked, frame pixels) is no taller than the people the crops' scale sees
        well (:meth:`fine_top`); None when they would be more than ``limit`` items in
        all (tiles inside large crops): the caller then takes the whole frame's items."""
        whole = plan_for_spec(self.spec, src_w=width, src_h=height,
                              height=self._whole_height(width, height))
        tile = self._tile_limit(width, height, whole)
        items: list[WorkItem] = []
        coarse: list[WorkItem] = []
        scales = self.coarse_scales(height)
        if scales and tallest is not None and tallest <= self.fine_top(height):
            scales = ()  # nothing that tall here: the crops' scale sees everyone
        for scale in scales:
            coarse += self._items_at(width, height, self._height_at(width, height, scale))
        for crop in crops:
            items += self._region(width, height, _quantised(crop, width, height, whole,
                                                            self._quantum()), whole, tile)
            if len(items) + len(coarse) > limit:
                return None
        return (*items, *coarse)

    def _quantum(self) -> int:
        return round_up(REGION_QUANTUM, self.spec.stride)

    def _tile_limit(self, width: int, height: int, whole: Letterbox
                    ) -> tuple[int, int] | None:
        """A tile's size in frame pixels when frames of this size are tiled, else None."""
        if not self.tiled(whole):
            return None
        tile = plan_for_spec(self.spec, src_w=width, src_h=height, height=self.tile_size)
        if whole.in_w <= tile.in_w and whole.in_h <= tile.in_h:
            return None
        scale = _scale(whole)
        return max(1, math.floor(tile.new_w / scale)), max(1, math.floor(tile.new_h / scale))

    def _region(self, width: int, height: int, crop: Crop, whole: Letterbox,
                tile: tuple[int, int] | None) -> list[WorkItem]:
        """One crop's items: the crop, or (larger than a tile) the tiles inside it."""
        parts = [crop]
        if tile is not None and (crop.w > tile[0] or crop.h > tile[1]):
            tile_w, tile_h = min(tile[0], crop.w), min(tile[1], crop.h)
            overlap = min(self.overlap, tile_w - 1, tile_h - 1)
            parts = [Crop(x=crop.x + t.x, y=crop.y + t.y, w=t.w, h=t.h, scale=crop.scale)
                     for t in plan_tiles(crop.w, crop.h, tile_w=tile_w, tile_h=tile_h,
                                         overlap=overlap)]
        return [WorkItem(part, self._crop_letterbox(part, whole)) for part in parts]

    def _crop_letterbox(self, crop: Crop, whole: Letterbox) -> Letterbox:
        """``crop`` resized by the whole frame's per-axis scales into its own input (the
        stride's multiple above); never larger than the whole frame's, side by side."""
        new_w = min(whole.new_w, max(1, round(crop.w * whole.scale_x)))
        new_h = min(whole.new_h, max(1, round(crop.h * whole.scale_y)))
        stride = self.spec.stride
        in_w, in_h = round_up(new_w, stride), round_up(new_h, stride)
        centred = self.spec.centred
        return Letterbox(in_w=in_w, in_h=in_h, new_w=new_w, new_h=new_h,
                         scale_x=new_w / crop.w, scale_y=new_h / crop.h,
                         pad_x=float((in_w - new_w) // 2) if centred else 0.0,
                         pad_y=float((in_h - new_h) // 2) if centred else 0.0)

    def count(self, width: int, height: int) -> int:
        """How many items a ``width`` x ``height`` frame gives."""
        return len(self.plan(width, height))

    def letterboxes(self, sizes: Iterable[tuple[int, int]]) -> frozenset[Letterbox]:
        """Every network input the frames of ``sizes`` give (what sizes the rings)."""
        return frozenset(item.letterbox for w, h in sizes for item in self.plan(w, h))

    def _whole_height(self, width: int, height: int) -> int | None:
        """The ``height`` argument of the whole frame's letterbox (None: the spec's)."""
        if self.height is not None or self.min_person_height is None:
            return self.height
        return self._height_at(width, height, self.person_scale(height))

    def person_px(self, frame_height: int) -> int:
        """``min_person_height`` in pixels of a frame ``frame_height`` tall: itself, or
        its share of ``frame_height`` rounded to whole pixels (at least 1)."""
        assert self.min_person_height is not None
        share = percent_of(self.min_person_height)
        if share is None:
            return int(self.min_person_height)
        return max(1, round(frame_height * share / 100))

    def person_scale(self, frame_height: int) -> float:
        """Network pixels per frame pixel that put ``min_person_height`` (in frames
        ``frame_height`` tall) at the low end of the head's best range
        (:data:`BEST_PERSON_PX`)."""
        best = self._best_range()
        size = self.tile_size or self.spec.input_height
        if best[1] > size:
            raise ConfigError(f"--tile-size / [tiles].size = {size}: {self.spec.head} heads "
                              f"see people best up to {best[1]:g} network pixels tall; "
                              "with --min-person-height give a tile at least that tall")
        return scale_for_person_height(self.person_px(frame_height), best_px_range=best,
                                       input_height=size)

    def fine_top(self, height: int) -> float:
        """The tallest person (frame pixels) that the whole frame's scale sees well in
        frames ``height`` tall: the head's range top at that scale (infinite without
        coarse scales)."""
        if not self.coarse_scales(height):
            return math.inf
        return self._best_range()[1] / self.person_scale(height)

    def _best_range(self) -> tuple[float, float]:
        best = BEST_PERSON_PX.get(self.spec.head)
        if best is None:
            raise ConfigError(f"--min-person-height: no person-height range is known for "
                              f"{self.spec.head!r} heads (model {self.spec.name}); give "
                              "--height instead")
        return best

    def _height_at(self, width: int, height: int, scale: float) -> int:
        """The letterbox ``height`` argument that scales a ``width`` x ``height`` image
        by ``scale`` (the long side for ``fit = "long_side"`` specs)."""
        side = max(width, height) if self.spec.fit == "long_side" else height
        return max(1, round(side * scale))

    def _tiles(self, width: int, height: int, tile: Letterbox, scale: float
               ) -> tuple[WorkItem, ...]:
        """Overlapping tiles of ``tile``'s input size (``new_w`` x ``new_h``) at ``scale``."""
        tile_w = max(1, math.floor(tile.new_w / scale))
        tile_h = max(1, math.floor(tile.new_h / scale))
        try:
            crops = plan_tiles(width, height, tile_w=tile_w, tile_h=tile_h,
                               overlap=self.overlap, scale=scale)
        except ValueError as exc:
            raise ConfigError(f"--tile-overlap / [tiles].overlap = {self.overlap}: must be "
                              f"less than a tile's side ({tile_w}x{tile_h} frame pixels for "
                              f"{width}x{height} frames at this scale)") from exc
        return tuple(WorkItem(c, plan_for_spec(self.spec, src_w=c.w, src_h=c.h,
                                               height=self._height_at(c.w, c.h, scale)))
                     for c in crops)


def _quantised(crop: Crop, width: int, height: int, whole: Letterbox, quantum: int) -> Crop:
    """``crop`` grown about its centre so that its network input (at ``whole``'s scales)
    is a multiple of ``quantum`` a side, kept inside the frame (and so no larger than
    the whole frame's input)."""
    x, w = _quantised_span(crop.x, crop.w, width, whole.scale_x, quantum)
    y, h = _quantised_span(crop.y, crop.h, height, whole.scale_y, quantum)
    return Crop(x=x, y=y, w=w, h=h, scale=_scale(whole))


def _quantised_span(start: int, size: int, length: int, scale: float, quantum: int
                    ) -> tuple[int, int]:
    """One axis of :func:`_quantised`: (start, size) in frame pixels."""
    wanted = round_up(max(1, math.ceil(size * scale)), quantum)
    grown = min(length, max(size, math.floor(wanted / scale)))
    first = min(max(0, start - (grown - size) // 2), length - grown)
    return first, grown


def _scale(lb: Letterbox) -> float:
    """The letterbox's scale: its fitted axis's (the other is rounded to whole pixels)."""
    return max(lb.scale_x, lb.scale_y)
