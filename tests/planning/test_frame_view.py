"""What a frame shows, for ``--interval auto``: motion outside the tracked people, and
the fastest tracked person's speed from consecutive posts of the tracked-boxes board."""

from __future__ import annotations

import multiprocessing as mp

import numpy as np
import pytest

from streampose.planning.frame_view import FrameWatch, fastest, new_motion
from streampose.planning.interval import FrameView
from streampose.regions.motion import MotionDetector, MotionSettings
from streampose.transport.tracked import BOARD_LENGTH, TrackedBoxes

W, H = 320, 160  # frames; the small motion mask is 160 x 80 (2 frame pixels a mask pixel)


def mask_with(*blobs: tuple[int, int, int, int]) -> np.ndarray:
    """A 160 x 80 mask with 255 in each (x1, y1, x2, y2) blob (mask pixels)."""
    mask = np.zeros((80, 160), np.uint8)
    for x1, y1, x2, y2 in blobs:
        mask[y1:y2, x1:x2] = 255
    return mask


def test_motion_inside_a_tracked_box_is_not_new() -> None:
    mask = mask_with((20, 10, 30, 40))  # frame x 40..60, y 20..80
    assert not new_motion(mask, np.array([[40.0, 20.0, 60.0, 80.0]]), W, H)
    assert new_motion(mask, np.zeros((0, 4)), W, H)


def test_motion_beyond_the_tracked_box_margin_is_new() -> None:
    mask = mask_with((20, 10, 30, 40), (100, 10, 110, 40))  # someone else, far right
    assert new_motion(mask, np.array([[40.0, 20.0, 60.0, 80.0]]), W, H)
    edge = mask_with((12, 10, 38, 40))  # the margin: 0.3 box heights, 18 px, 9 mask px
    assert not new_motion(edge, np.array([[40.0, 20.0, 60.0, 80.0]]), W, H)


def test_a_speck_is_not_new_motion() -> None:
    assert not new_motion(mask_with((100, 10, 105, 15)), np.zeros((0, 4)), W, H)  # 25 px
    assert not new_motion(mask_with(), np.zeros((0, 4)), W, H)


def test_the_fastest_tracked_box_in_box_heights_per_frame() -> None:
    before = np.array([[0.0, 0.0, 50.0, 100.0], [200.0, 0.0, 250.0, 100.0]])
    after = before + np.array([[10.0, 0, 10.0, 0], [30.0, 0, 30.0, 0]])
    assert fastest(before, after, 1) == pytest.approx(0.3)
    assert fastest(before, after, 3) == pytest.approx(0.1)  # three frames between posts


def test_a_box_that_grows_or_shrinks_on_one_side_has_not_moved() -> None:
    before = np.array([[0.0, 0.0, 50.0, 100.0]])
    assert fastest(before, np.array([[0.0, 30.0, 50.0, 80.0]]), 1) == 0.0  # pose lost feet
    assert fastest(before, np.array([[0.0, 0.0, 70.0, 100.0]]), 1) == 0.0  # an arm out
    assert fastest(before, np.array([[10.0, 0.0, 70.0, 100.0]]), 1) == pytest.approx(0.1)


def test_a_box_without_a_near_partner_does_not_count() -> None:
    before = np.array([[0.0, 0.0, 50.0, 100.0]])
    after = np.array([[5.0, 0.0, 55.0, 100.0], [300.0, 0.0, 350.0, 100.0]])  # newcomer
    assert fastest(before, after, 1) == pytest.approx(0.05)
    assert fastest(before, after[1:], 1) is None
    assert fastest(np.zeros((0, 4)), after, 1) is None


def frame_with(*squares: tuple[int, int]) -> np.ndarray:
    frame = np.full((H, W, 3), 20, np.uint8)
    for x, y in squares:
        frame[y:y + 40, x:x + 20] = 240
    return frame


def test_the_watch_sees_a_newcomer_then_follows_the_board() -> None:
    board = TrackedBoxes(mp.get_context("spawn").Array("d", BOARD_LENGTH))
    watch = FrameWatch(boards=[board], settings=MotionSettings(width=160))
    assert watch.view(0, frame_with()) == FrameView()  # primes the background
    assert watch.view(0, frame_with((100, 60))).new_motion  # nobody tracked there
    box = np.array([[100.0, 60.0, 120.0, 100.0]])
    board.write(box)
    assert watch.view(0, frame_with((100, 60))) == FrameView(new_motion=False, speed=None)
    board.write(box + np.array([4.0, 0, 4.0, 0]))
    board.write(box + np.array([8.0, 0, 8.0, 0]))
    view = watch.view(0, frame_with((108, 60)))
    assert not view.new_motion and view.speed == pytest.approx(0.1)  # 4 px of 40 a frame
    assert watch.motion(0) is not None and len(watch.motion(0))  # type: ignore[arg-type]


def test_a_stream_lends_its_own_detector() -> None:
    board = TrackedBoxes(mp.get_context("spawn").Array("d", BOARD_LENGTH))
    detector = MotionDetector()
    watch = FrameWatch(boards=[board, None], settings=MotionSettings(), detectors=[detector])
    assert watch.detectors == [detector, None]
    assert watch.watches(0) and not watch.watches(1)
    watch.view(0, frame_with())
    assert detector.primed
    watch.restart(0)
    assert not detector.primed
