"""Motion regions as work items, per stream: full passes (first frame, periodic, new
camera), regions around a moving square at the whole frame's scale, the tracked-region
keep-alive through a tracked-boxes board, still frames with no item; which streams
``--motion auto`` turns on."""

from __future__ import annotations

import multiprocessing as mp
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest

from streampose.config.sections import MotionConfig
from streampose.errors import ConfigError
from streampose.planning.motion_items import MotionItems, motion_settings, motion_streams
from streampose.planning.work_items import ItemPlanner
from streampose.regions.motion import MotionSettings
from streampose.transport.tracked import BOARD_LENGTH, TrackedBoxes
from tests.planning.test_work_items import PAF
from tests.regions.test_motion import SIDE, H, W, _frame, _walk

CTX = mp.get_context("spawn")


def _items(**settings: Any) -> MotionItems:
    work = ItemPlanner(spec=PAF, min_person_height=50)  # scale 2 for 320x240 frames
    return MotionItems(work=work, settings=MotionSettings(**settings), streams=(False, True))


def _full(items: MotionItems) -> tuple[Any, ...]:
    return items.work.plan(W, H)


def test_first_frame_is_full_then_regions_around_the_mover_then_still() -> None:
    items = _items(full_every=10_000)
    kinds = []
    for i in range(6):
        kind, work = items.items(1, _frame(i, _walk(i)), np.zeros((0, 4)), _full(items))
        kinds.append(kind)
        if kind == "regions":
            x, _ = _walk(i)
            assert any(item.crop.x <= x and item.crop.x + item.crop.w >= x + SIDE
                       for item in work)
            for item in work:  # at the whole frame's scale, never above its input (an
                # 8 px square is not tall enough for the coarse whole frame)
                assert item.letterbox.scale_x == pytest.approx(2.0, rel=0.02)
    assert kinds[0] == "full" and set(kinds[1:]) == {"regions"}
    for i in range(6, 100):  # it left; its trail fades from the background
        kind, work = items.items(1, _frame(i), np.zeros((0, 4)), _full(items))
    assert (kind, work) == ("still", ())


def test_periodic_full_pass_and_a_new_camera_restart() -> None:
    items = _items(full_every=4)
    kinds = [items.items(1, _frame(i), np.zeros((0, 4)), _full(items))[0] for i in range(9)]
    assert kinds == ["full", "still", "still", "still"] * 2 + ["full"]
    items.restart(1)
    assert items.items(1, _frame(20), np.zeros((0, 4)), _full(items))[0] == "full"
    assert items.enabled(1) and not items.enabled(0) and not items.enabled(5)


def test_a_square_that_stops_stays_a_region_while_its_track_box_is_posted() -> None:
    """The keep-alive end to end of the board: render posts the track box, preprocess
    reads it; once the board is cleared (the track ended) the frame is still."""
    board = TrackedBoxes(CTX.Array("d", BOARD_LENGTH))
    items = _items(full_every=10_000, learning_rate=0.2)
    stop = _walk(8)
    for i in range(9):
        items.items(1, _frame(i, _walk(i)), board.read(), _full(items))
    board.write(np.array([[stop[0], stop[1], stop[0] + SIDE, stop[1] + SIDE]]))
    for i in range(9, 50):  # long enough for the square to fade into the background
        kind, work = items.items(1, _frame(i, stop), board.read(), _full(items))
        assert kind == "regions"
        assert any(item.crop.x <= stop[0] and item.crop.x + item.crop.w >= stop[0] + SIDE
                   and item.crop.y <= stop[1] and item.crop.y + item.crop.h >= stop[1] + SIDE
                   for item in work)
    board.clear()
    assert items.items(1, _frame(50, stop), board.read(), _full(items))[0] == "still"


def test_a_tall_tracked_person_brings_the_coarse_whole_frame_into_a_regions_frame() -> None:
    items = _items(full_every=10_000)
    coarse = _full(items)[1:]  # 50 px people at scale 2 see up to 150 px; 240 px frames
    assert len(coarse) == 1
    items.items(1, _frame(0), np.zeros((0, 4)), _full(items))
    short = np.array([[100.0, 20.0, 140.0, 120.0]])  # 100 px: the crops' scale sees it
    tall = np.array([[100.0, 20.0, 180.0, 200.0]])  # 180 px: too tall for it
    kind, work = items.items(1, _frame(1), short, _full(items))
    assert kind == "regions" and not set(coarse) & set(work)
    kind, work = items.items(1, _frame(2), tall, _full(items))
    assert kind == "regions" and work[-1:] == coarse


def test_with_tiles_regions_fit_a_tile_s_slot_and_the_frame_s_item_limit() -> None:
    work = ItemPlanner(spec=PAF, height=240, tiles=True, overlap=8, tile_size=64)
    items = MotionItems(work=work, settings=MotionSettings(full_every=10_000, max_regions=2,
                                                           full_area=1.0, margin=0.0),
                        streams=(True,))
    full = work.plan(W, H)
    (slot,) = {(i.letterbox.in_w, i.letterbox.in_h) for i in full}
    items.items(0, _frame(0), np.zeros((0, 4)), full)
    tracked = np.array([[10.0, 10.0, 150.0, 100.0], [200.0, 150.0, 300.0, 230.0]])
    kind, got = items.items(0, _frame(1), tracked, full)
    assert kind == "regions" and 2 < len(got) <= items.limit(W, H) == len(full)
    assert all(i.letterbox.in_w <= slot[0] and i.letterbox.in_h <= slot[1] for i in got)


def test_the_motion_table_gives_the_settings() -> None:
    table = MotionConfig(mode="on", full_every=7, margin=0.5, blur=5)
    assert motion_settings(table) == MotionSettings(full_every=7, margin=0.5, blur=5)


def _source(*, live: bool = False, images: bool = False,
            size: tuple[int, int] = (480, 360)) -> Any:
    return SimpleNamespace(live=live, is_images=images, sizes=(size,))


def test_auto_is_on_for_cameras_and_large_videos_off_for_images() -> None:
    config: Any = SimpleNamespace(motion=MotionConfig(mode="auto"))
    work = ItemPlanner(spec=PAF)  # 368x368 square input
    sources = [_source(live=True, size=(320, 240)), _source(size=(1920, 1080)),
               _source(size=(320, 240)), _source(images=True, size=(1920, 1080))]
    # a 320x240 video at height 368 is a 496x368 input: larger than 368x368
    assert motion_streams(config, sources, work, reads_frames=False) == (True,) * 3 + (False,)
    small = ItemPlanner(spec=PAF, height=96)  # even 1080p is a 176x96 input: off
    assert motion_streams(config, sources, small, reads_frames=False) == (
        True, False, False, False)
    assert motion_streams(config, sources, work, reads_frames=True) == (False,) * 4


def test_on_and_off_and_the_device_letterbox() -> None:
    sources = [_source(images=True), _source()]
    work = ItemPlanner(spec=PAF)
    on: Any = SimpleNamespace(motion=MotionConfig(mode="on"))
    off: Any = SimpleNamespace(motion=MotionConfig())
    assert motion_streams(on, sources, work, reads_frames=False) == (True, True)
    assert motion_streams(off, sources, work, reads_frames=False) == (False, False)
    with pytest.raises(ConfigError, match=r"^--motion on: .* give --device-ops off"):
        motion_streams(on, sources, work, reads_frames=True)
