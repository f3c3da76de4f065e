"""Crops: tile planning, the person-height scale and motion/track regions to crops."""

from __future__ import annotations

import numpy as np
import pytest

from streampose.pose.crops import (
    Crop,
    plan_tiles,
    regions_to_crops,
    scale_for_person_height,
    whole_frame,
)


def _covered(crops: list[Crop], w: int, h: int) -> np.ndarray:
    seen = np.zeros((h, w), np.int32)
    for c in crops:
        seen[c.slices] += 1
    return seen


def test_crop_properties_and_mapping() -> None:
    crop = Crop(x=10, y=20, w=100, h=50, scale=2.0)
    assert crop.box == (10, 20, 110, 70)
    assert crop.input_size == (200, 100)
    assert crop.fits(110, 70) and not crop.fits(109, 70)
    assert crop.to_frame_mapping() == ((1.0, 1.0), (10.0, 20.0))
    assert crop.to_frame_mapping(input_pixels=True) == ((0.5, 0.5), (10.0, 20.0))
    frame = np.arange(100 * 200).reshape(100, 200)
    assert frame[crop.slices].shape == (50, 100)
    assert frame[crop.slices][0, 0] == frame[20, 10]


@pytest.mark.parametrize(("field", "kwargs"), [
    ("w", {"w": 0}), ("h", {"h": -1}), ("x", {"x": -1}), ("x", {"x": 1.5}),
    ("scale", {"scale": 0.0}), ("scale", {"scale": float("nan")}), ("y", {"y": True}),
])
def test_crop_rejects_bad_values_naming_them(field: str, kwargs: dict[str, object]) -> None:
    values: dict[str, object] = {"x": 0, "y": 0, "w": 4, "h": 4, "scale": 1.0, **kwargs}
    with pytest.raises(ValueError, match=f"Crop: {field} = "):
        Crop(**values)  # type: ignore[arg-type]


def test_frame_that_fits_is_one_whole_frame_crop() -> None:
    assert plan_tiles(320, 240, tile_w=320, tile_h=320, overlap=32, scale=1.5) == [
        whole_frame(320, 240, scale=1.5)]


def test_tiles_cover_the_frame_inside_it_with_the_overlap() -> None:
    tiles = plan_tiles(1920, 1080, tile_w=640, tile_h=640, overlap=96)
    assert all(t.w == 640 and t.h == 640 and t.fits(1920, 1080) for t in tiles)
    assert _covered(tiles, 1920, 1080).min() >= 1
    xs = sorted({t.x for t in tiles})
    ys = sorted({t.y for t in tiles})
    assert xs[0] == 0 and xs[-1] == 1920 - 640 and ys == [0, 1080 - 640]
    assert (np.diff(xs) <= 640 - 96).all()
    assert len(tiles) == len(xs) * len(ys) == 4 * 2  # the fewest: 3 would overlap < 96
    assert [(t.y, t.x) for t in tiles] == sorted((t.y, t.x) for t in tiles)


def test_tiles_on_one_axis_only_span_the_other() -> None:
    tiles = plan_tiles(1000, 200, tile_w=400, tile_h=400, overlap=50)
    assert [t.box for t in tiles] == [(0, 0, 400, 200), (300, 0, 700, 200),
                                      (600, 0, 1000, 200)]


def test_tile_overlap_exactly_when_it_divides() -> None:
    tiles = plan_tiles(250, 100, tile_w=100, tile_h=100, overlap=25)
    assert [t.x for t in tiles] == [0, 75, 150]


@pytest.mark.parametrize("kwargs", [
    {"tile_w": 0, "tile_h": 10, "overlap": 0}, {"tile_w": 10, "tile_h": 10, "overlap": 10},
    {"tile_w": 10, "tile_h": 10, "overlap": -1},
])
def test_plan_tiles_rejects_bad_values(kwargs: dict[str, int]) -> None:
    with pytest.raises(ValueError):
        plan_tiles(100, 100, **kwargs)


def test_scale_puts_the_smallest_person_at_the_range_low_end() -> None:
    assert scale_for_person_height(50, best_px_range=(100, 300), input_height=368) == 2.0
    assert scale_for_person_height(200, best_px_range=(100, 300), input_height=368) == 0.5


@pytest.mark.parametrize(("person", "best", "height", "message"), [
    (0, (100, 300), 368, "min_person_px"), (50, (300, 100), 368, "low <= high"),
    (50, (100, 400), 368, "exceeds input_height"), (50, (0, 300), 368, "low"),
])
def test_scale_rejects_bad_values(person: float, best: tuple[float, float], height: int,
                                  message: str) -> None:
    with pytest.raises(ValueError, match=message):
        scale_for_person_height(person, best_px_range=best, input_height=height)


def test_regions_grow_by_the_margin_and_stay_inside() -> None:
    crops = regions_to_crops([[100, 100, 140, 200]], 640, 480, min_side=8, margin=0.25,
                             max_crops=4, scale=2.0)
    assert [c.box for c in crops] == [(90, 75, 150, 225)]
    assert crops[0].scale == 2.0
    edge = regions_to_crops([[0, 450, 30, 480]], 640, 480, min_side=8, margin=0.5,
                            max_crops=4)
    assert [c.box for c in edge] == [(0, 420, 60, 480)]  # shifted inside, size kept
    wide = regions_to_crops([[-50, 10, 700, 20]], 640, 480, min_side=8, margin=0.0,
                            max_crops=4)
    assert [c.box for c in wide] == [(0, 10, 640, 20)]  # clipped: longer than the frame


def test_small_regions_reach_min_side_inside_the_frame() -> None:
    crops = regions_to_crops([[630, 5, 634, 9]], 640, 480, min_side=64, margin=0.0,
                             max_crops=4)
    assert [c.box for c in crops] == [(576, 0, 640, 64)]
    tiny_frame = regions_to_crops([[1, 1, 2, 2]], 32, 20, min_side=64, margin=0.0,
                                  max_crops=4)
    assert [c.box for c in tiny_frame] == [(0, 0, 32, 20)]


def test_overlapping_regions_merge_and_far_ones_stay_apart() -> None:
    boxes = np.array([[10, 10, 50, 50], [40, 40, 80, 90], [300, 300, 320, 330]], np.float32)
    crops = regions_to_crops(boxes, 640, 480, min_side=1, margin=0.0, max_crops=8)
    assert [c.box for c in crops] == [(10, 10, 80, 90), (300, 300, 320, 330)]


def test_chain_of_merges_leaves_no_overlap() -> None:
    # a and c are apart; b joins them only once merged with a: nothing may overlap at the end
    boxes = [[0, 0, 10, 10], [50, 0, 60, 10], [5, 5, 55, 8]]
    crops = regions_to_crops(boxes, 100, 100, min_side=1, margin=0.0, max_crops=8)
    assert [c.box for c in crops] == [(0, 0, 60, 10)]


def test_too_many_regions_merge_the_cheapest_pairs() -> None:
    boxes = [[0, 0, 10, 10], [20, 0, 30, 10], [200, 200, 210, 210]]
    crops = regions_to_crops(boxes, 640, 480, min_side=1, margin=0.0, max_crops=2)
    assert [c.box for c in crops] == [(0, 0, 30, 10), (200, 200, 210, 210)]
    one = regions_to_crops(boxes, 640, 480, min_side=1, margin=0.0, max_crops=1)
    assert [c.box for c in one] == [(0, 0, 210, 210)]


def test_empty_and_invalid_boxes_give_no_crops() -> None:
    assert regions_to_crops(np.zeros((0, 4)), 64, 64, min_side=8, margin=0.1,
                            max_crops=2) == []
    bad = [[5, 5, 5, 9], [np.nan, 0, 4, 4], [9, 9, 3, 3]]
    assert regions_to_crops(bad, 64, 64, min_side=8, margin=0.1, max_crops=2) == []


def test_regions_are_deterministic_and_never_overlap() -> None:
    rng = np.random.default_rng(3)
    xy = rng.uniform(0, 600, size=(30, 2))
    boxes = np.concatenate([xy, xy + rng.uniform(5, 60, size=(30, 2))], axis=1)
    crops = regions_to_crops(boxes, 640, 480, min_side=32, margin=0.2, max_crops=5)
    again = regions_to_crops(boxes, 640, 480, min_side=32, margin=0.2, max_crops=5)
    assert crops == again and 1 <= len(crops) <= 5
    assert _covered(crops, 640, 480).max() == 1
    assert all(c.fits(640, 480) for c in crops)
    for box in boxes:  # every box's part inside the frame is covered
        x1, y1 = int(box[0]), int(box[1])
        x2, y2 = min(int(np.ceil(box[2])), 640), min(int(np.ceil(box[3])), 480)
        if x1 < 640 and y1 < 480:
            assert _covered(crops, 640, 480)[y1:y2, x1:x2].min() == 1


@pytest.mark.parametrize(("size", "tile", "overlap"), [
    ((641, 480), (320, 320), 0), ((1920, 1080), (500, 300), 120), ((999, 1001), (100, 77), 76),
    ((5000, 40), (640, 640), 200),
])
def test_tile_invariants(size: tuple[int, int], tile: tuple[int, int], overlap: int) -> None:
    w, h = size
    tiles = plan_tiles(w, h, tile_w=tile[0], tile_h=tile[1], overlap=overlap)
    assert _covered(tiles, w, h).min() >= 1
    assert all(t.fits(w, h) and t.w == min(w, tile[0]) and t.h == min(h, tile[1])
               for t in tiles)
    axes = (({t.x for t in tiles}, tile[0], w), ({t.y for t in tiles}, tile[1], h))
    for starts, side, length in axes:
        ordered = sorted(starts)
        steps = np.diff(ordered).tolist()
        assert all(step <= side - overlap for step in steps)
        if len(ordered) > 1:  # fewest tiles: one fewer could not cover with the overlap
            assert side + (len(ordered) - 2) * (side - overlap) < length
