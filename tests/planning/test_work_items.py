"""Work items: a frame size's crops and letterboxes (whole frame, or tiles at the scale
that --height or --min-person-height asks for), and the transform back to frame pixels."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from streampose.errors import ConfigError
from streampose.models.spec import ModelSpec, builtin_specs
from streampose.planning.work_items import (
    BEST_PERSON_PX,
    MAX_COARSE_SCALES,
    MAX_WHOLE_PIXELS,
    REGION_QUANTUM,
    SCALE_STEP,
    ItemPlanner,
)
from streampose.pose.crops import Crop
from streampose.pose.letterbox import input_to_frame, plan_for_spec

PAF = builtin_specs()["openpose-mnv2s-coco18"]  # fit = "height", input height 368, stride 8
YOLO_LIKE = ModelSpec.from_dict({
    "name": "tiny-pose", "skeleton": "coco17", "head": "keypoints", "input_name": "images",
    "input_layout": "NCHW", "color": "RGB", "stride": 8, "scale": [1 / 255] * 3,
    "pad_value": 114, "centred": True, "fit": "long_side", "input_height": 96,
    "output": "output0", "keypoints": 17}, source="tiny-pose.toml")


def test_by_default_a_frame_is_one_item_letterboxed_as_before() -> None:
    for spec, height in ((PAF, None), (PAF, 480), (YOLO_LIKE, None)):
        items = ItemPlanner(spec=spec, height=height).plan(480, 360)
        lb = plan_for_spec(spec, src_w=480, src_h=360, height=height)
        assert len(items) == 1 and items[0].letterbox == lb
        assert items[0].transform == lb.transform
        assert items[0].crop.box == (0, 0, 480, 360)


def test_the_smallest_person_picks_the_scale_and_height_overrides_it() -> None:
    low = BEST_PERSON_PX["paf"][0]
    planner = ItemPlanner(spec=PAF, min_person_height=50)
    assert planner.person_scale(360) == low / 50
    item, coarse = planner.plan(480, 360)  # and a coarser scale for taller people
    assert item.letterbox == plan_for_spec(PAF, src_w=480, src_h=360, height=round(360 * low / 50))
    assert coarse.letterbox == plan_for_spec(PAF, src_w=480, src_h=360, height=300)
    (explicit,) = ItemPlanner(spec=PAF, min_person_height=50, height=200).plan(480, 360)
    assert explicit.letterbox.in_h == 200  # --height is the explicit override


def test_a_share_of_the_frame_height_is_that_many_pixels_of_each_size() -> None:
    share = ItemPlanner(spec=PAF, min_person_height="11%")
    for (width, height), pixels in (((480, 360), 40), ((1920, 1080), 119)):
        assert pixels == round(0.11 * height) == share.person_px(height)
        same = ItemPlanner(spec=PAF, min_person_height=pixels)
        assert share.person_scale(height) == same.person_scale(height)
        assert share.plan(width, height) == same.plan(width, height)
    # the network sees the frame's height at about the same size whatever the camera
    # (up to the person height's rounding to whole pixels: 39.6 -> 40 at 360)
    low = BEST_PERSON_PX["paf"][0]
    for height in (360, 1080):
        assert share.person_scale(height) * height == pytest.approx(low / 0.11, rel=0.013)


def test_a_share_follows_a_frame_size_change() -> None:
    share = ItemPlanner(spec=PAF, min_person_height="7.5%")
    small = share.plan(480, 360)  # 27 px people
    large = share.plan(1920, 1080)  # 81 px people
    assert small == ItemPlanner(spec=PAF, min_person_height=27).plan(480, 360)
    assert large == ItemPlanner(spec=PAF, min_person_height=81).plan(1920, 1080)
    assert share.letterboxes([(480, 360), (1920, 1080)]) == {
        item.letterbox for item in (*small, *large)}
    assert share.person_px(16) == 1  # never below one pixel (0.5% of a 16 px frame too)


def test_a_share_gives_the_same_regions_as_its_pixels() -> None:
    crops = [Crop(x=100, y=50, w=70, h=90)]
    share = ItemPlanner(spec=PAF, min_person_height="11%").regions(480, 360, crops, limit=4)
    pixels = ItemPlanner(spec=PAF, min_person_height=40).regions(480, 360, crops, limit=4)
    assert share == pixels and share is not None and len(share) == 2  # the crop, the coarse frame


def test_a_frame_that_fits_one_tile_stays_whole() -> None:
    items = ItemPlanner(spec=YOLO_LIKE, tiles=True).plan(480, 360)
    assert len(items) == 1 and items[0].crop.box == (0, 0, 480, 360)


def test_a_frame_larger_than_a_tile_at_its_scale_is_cut_into_overlapping_tiles() -> None:
    planner = ItemPlanner(spec=YOLO_LIKE, height=192, tiles=True, overlap=8)
    items = planner.plan(480, 360)  # 2x the tile's input: tiles of 240x180 frame pixels
    assert len(items) == 9
    crops = [item.crop for item in items]
    assert {(c.w, c.h) for c in crops} == {(240, 180)}
    covered = np.zeros((360, 480), bool)
    for c in crops:
        covered[c.slices] = True
    assert covered.all()
    assert crops[1].x < crops[0].x + crops[0].w - 8 + 1  # neighbours overlap >= 8 px
    for item in items:  # every tile's input is one tile's, at the frame's scale
        assert (item.letterbox.in_w, item.letterbox.in_h) == (96, 72)
        assert item.letterbox.scale_x == pytest.approx(0.4)


def test_an_item_s_transform_maps_its_input_back_to_frame_pixels() -> None:
    items = ItemPlanner(spec=YOLO_LIKE, height=192, tiles=True, overlap=8).plan(480, 360)
    frame_xy = np.array([[300.0, 250.0]])
    for item in items:
        crop, lb = item.crop, item.letterbox
        if not (crop.x <= 300 < crop.x + crop.w and crop.y <= 250 < crop.y + crop.h):
            continue
        input_xy = (frame_xy - [crop.x, crop.y]) * [lb.scale_x, lb.scale_y] + \
            [lb.pad_x, lb.pad_y]
        (sx, sy), (ox, oy) = input_to_frame(item.transform, centres=False)
        back = input_xy * [sx, sy] + [ox, oy]
        np.testing.assert_allclose(back, frame_xy, atol=1e-9)
        offset = np.array([crop.x, crop.y], np.float64)
        np.testing.assert_allclose(lb.to_frame(input_xy) + offset, frame_xy,
                                   atol=1e-9)  # the same as the crop's letterbox, moved


def test_an_item_cuts_its_crop_from_the_frame() -> None:
    frame = np.arange(360 * 480 * 3, dtype=np.uint32).reshape(360, 480, 3).astype(np.uint8)
    (whole,) = ItemPlanner(spec=YOLO_LIKE).plan(480, 360)
    assert whole.cut(frame) is frame
    tile = ItemPlanner(spec=YOLO_LIKE, height=192, tiles=True, overlap=8).plan(480, 360)[4]
    cut = tile.cut(frame)
    assert np.shares_memory(cut, frame)
    np.testing.assert_array_equal(cut, frame[tile.crop.y:tile.crop.y + tile.crop.h,
                                             tile.crop.x:tile.crop.x + tile.crop.w])


def test_letterboxes_are_every_input_of_the_sizes() -> None:
    planner = ItemPlanner(spec=YOLO_LIKE, height=192, tiles=True, overlap=8)
    inputs = planner.letterboxes([(480, 360), (96, 72)])
    assert {(lb.in_w, lb.in_h) for lb in inputs} == {(96, 72)}
    assert planner.count(480, 360) == planner.count(96, 72) == 9  # --height scales both


@pytest.mark.parametrize(("planner", "message"), [
    (ItemPlanner(spec=YOLO_LIKE, height=192, tiles=True, overlap=180),
     "--tile-overlap / [tiles].overlap = 180: must be less than a tile's side"),
    (ItemPlanner(spec=PAF, min_person_height=50, tile_size=200),
     "--tile-size / [tiles].size = 200: paf heads see people best up to 300 network"),
])
def test_bad_tile_settings_name_the_option(planner: ItemPlanner, message: str) -> None:
    with pytest.raises(ConfigError) as info:
        planner.plan(480, 360)
    assert message in str(info.value)


# --- motion regions: crops at the whole frame's scale --------------------------------


def test_regions_are_crops_at_the_whole_frame_s_scale_with_quantised_inputs() -> None:
    planner = ItemPlanner(spec=PAF, min_person_height=50)  # scale 2: a 960x720 input
    whole, coarse = planner.plan(480, 360)
    crops = [Crop(x=100, y=50, w=70, h=90), Crop(x=420, y=300, w=60, h=60)]
    items = planner.regions(480, 360, crops, limit=4)
    assert items is not None and len(items) == 3
    assert items[2] == coarse  # the whole frame at the coarse scale, for taller people
    for item, asked in zip(items[:2], crops, strict=True):
        lb = item.letterbox
        assert lb.scale_x == pytest.approx(whole.letterbox.scale_x, rel=0.02)
        assert lb.scale_y == pytest.approx(whole.letterbox.scale_y, rel=0.02)
        assert lb.in_w % REGION_QUANTUM == 0 and lb.in_h % REGION_QUANTUM == 0
        assert (lb.in_w, lb.in_h) == (lb.new_w, lb.new_h)  # grown, not padded
        assert item.crop.fits(480, 360)
        assert item.crop.x <= asked.x and item.crop.y <= asked.y  # grown about its centre
        assert item.crop.x + item.crop.w >= asked.x + asked.w
        assert item.crop.y + item.crop.h >= asked.y + asked.h
    assert items[1].crop.box[2:] == (480, 360)  # kept inside the frame at its corner


def test_a_region_never_needs_a_larger_input_than_the_whole_frame() -> None:
    for spec, kw in ((PAF, {"height": 368}), (YOLO_LIKE, {}), (YOLO_LIKE, {"height": 200})):
        planner = ItemPlanner(spec=spec, **kw)
        (whole,) = planner.plan(481, 359)
        for crop in (Crop(x=0, y=0, w=481, h=359), Crop(x=1, y=2, w=470, h=20),
                     Crop(x=300, y=0, w=10, h=359)):
            items = planner.regions(481, 359, [crop], limit=1)
            assert items is not None
            (item,) = items
            assert item.letterbox.in_w <= whole.letterbox.in_w
            assert item.letterbox.in_h <= whole.letterbox.in_h


def test_a_region_s_transform_maps_its_input_back_to_frame_pixels() -> None:
    planner = ItemPlanner(spec=YOLO_LIKE, height=192)
    items = planner.regions(480, 360, [Crop(x=200, y=100, w=50, h=120)], limit=1)
    assert items is not None
    (item,) = items
    crop, lb = item.crop, item.letterbox
    frame_xy = np.array([[crop.x + 20.0, crop.y + 30.0]])
    input_xy = (frame_xy - [crop.x, crop.y]) * [lb.scale_x, lb.scale_y] + [lb.pad_x, lb.pad_y]
    (sx, sy), (ox, oy) = input_to_frame(item.transform, centres=False)
    np.testing.assert_allclose(input_xy * [sx, sy] + [ox, oy], frame_xy, atol=1e-9)


def test_with_tiles_a_large_region_is_cut_into_tiles_or_given_up() -> None:
    planner = ItemPlanner(spec=YOLO_LIKE, height=192, tiles=True, overlap=8)
    tile_inputs = {(lb.in_w, lb.in_h) for lb in planner.letterboxes([(480, 360)])}
    small = planner.regions(480, 360, [Crop(x=10, y=10, w=60, h=60)], limit=4)
    assert small is not None and len(small) == 1
    large = planner.regions(480, 360, [Crop(x=0, y=0, w=400, h=200)], limit=9)
    assert large is not None and len(large) > 1
    for item in (*small, *large):  # every item fits a tile's input slot
        (w, h), = tile_inputs
        assert item.letterbox.in_w <= w and item.letterbox.in_h <= h
    assert planner.regions(480, 360, [Crop(x=0, y=0, w=400, h=200)], limit=2) is None


# --- smallest to tallest: coarser whole frames below --min-person-height's scale -------


def test_coarser_scales_reach_the_frame_height_without_gaps() -> None:
    low, high = BEST_PERSON_PX["keypoints"]
    planner = ItemPlanner(spec=YOLO_LIKE, min_person_height=40, tile_size=640)  # vtest's
    fine = planner.person_scale(360)
    (coarse,) = planner.coarse_scales(360)
    assert fine == low / 40 and high / fine < 360  # 40 px people sit at the range's low end
    assert coarse == high / 360  # a frame-tall person at the range's high end ...
    assert coarse * (high / fine) >= low  # ... and no height between the two ranges
    items = planner.plan(480, 360)
    assert [item.letterbox.scale_y for item in items] == [
        pytest.approx(fine, rel=0.01), pytest.approx(coarse, rel=0.01)]
    # a share asks the same of every frame size: 11% of 1080 is 119 px
    share = ItemPlanner(spec=YOLO_LIKE, min_person_height="11%", tile_size=640)
    assert share.coarse_scales(1080) == (high / 1080,)


def test_a_small_person_height_gets_several_coarser_scales_each_a_step_apart() -> None:
    low, high = BEST_PERSON_PX["keypoints"]
    scales = ItemPlanner(spec=YOLO_LIKE, min_person_height=8, tile_size=640).coarse_scales(1080)
    every = [low / 8, *scales]
    assert len(scales) >= 2 and high / every[-1] >= 1080
    for finer, coarser in itertools.pairwise(every):
        assert coarser <= finer / SCALE_STEP and coarser * high / finer >= low - 1e-9
    assert len(ItemPlanner(spec=YOLO_LIKE, min_person_height=4, tile_size=640)
               .coarse_scales(4096)) <= MAX_COARSE_SCALES


def test_one_scale_without_a_person_height_with_height_or_when_it_covers_the_frame() -> None:
    assert ItemPlanner(spec=YOLO_LIKE).coarse_scales(360) == ()
    assert ItemPlanner(spec=YOLO_LIKE, min_person_height=40, height=640).coarse_scales(360) == ()
    covering = ItemPlanner(spec=YOLO_LIKE, min_person_height=120, tile_size=640)
    assert covering.coarse_scales(360) == ()  # 120 px people: the range reaches 415 px
    assert len(covering.plan(480, 360)) == 1


def test_a_whole_frame_input_over_the_limit_is_tiled_even_with_tiles_off() -> None:
    planner = ItemPlanner(spec=YOLO_LIKE, min_person_height=40, tile_size=640)
    assert not planner.oversized(480, 360) and planner.oversized(1920, 1080)
    items = planner.plan(3840, 2160)  # 40 px people: a 12480x7020 input
    fine = [item for item in items if item.crop.box != (0, 0, 3840, 2160)]
    assert len(fine) > 100 and planner.oversized(3840, 2160)
    for item in items:  # every input fits a tile's, or is a coarse whole frame under the cap
        lb = item.letterbox
        assert lb.in_w * lb.in_h <= MAX_WHOLE_PIXELS
    assert ItemPlanner(spec=YOLO_LIKE, min_person_height="11%", tile_size=640) \
        .oversized(3840, 2160) is False


def test_regions_add_the_coarse_frame_only_when_something_tall_moves_or_is_tracked() -> None:
    planner = ItemPlanner(spec=PAF, min_person_height=50)  # fine scale 2: sees up to 150 px
    _, coarse = planner.plan(480, 360)
    assert planner.fine_top(360) == 150.0
    crops = [Crop(x=100, y=50, w=70, h=90)]
    small = planner.regions(480, 360, crops, limit=4, tallest=90.0)
    tall = planner.regions(480, 360, crops, limit=4, tallest=151.0)
    assert small is not None and tall is not None
    assert coarse not in small and len(small) == 1
    assert tall[-1] == coarse and len(tall) == 2
    assert ItemPlanner(spec=PAF, min_person_height=150).fine_top(360) == float("inf")
