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
LEAST = 32 * 4  # NEW_AREA mask pixels, in frame pixels
PERSON = np.array([[40.0, 20.0, 60.0, 80.0]])  # 60 px tall: grown by 18 px on each side


def test_a_blob_touching_a_tracked_box_is_not_new() -> None:
    walker = np.array([[30.0, 20.0, 90.0, 90.0]])  # wider than the keypoints: a trail
    assert not new_motion(walker, PERSON, least_area=LEAST)
    assert new_motion(walker, np.zeros((0, 4)), least_area=LEAST)


def test_a_blob_beyond_the_tracked_box_margin_is_new() -> None:
    near = np.array([[75.0, 20.0, 95.0, 80.0]])  # 15 px right of the box: in the margin
    far = np.array([[200.0, 20.0, 220.0, 80.0]])  # someone else
    assert not new_motion(near, PERSON, least_area=LEAST)
    assert new_motion(np.concatenate([near, far]), PERSON, least_area=LEAST)
    assert new_motion(near + np.array([4.0, 0, 4.0, 0]), PERSON, least_area=LEAST)  # 19 px


def test_a_speck_is_not_new_motion() -> None:
    speck = np.array([[200.0, 20.0, 210.0, 30.0]])  # 100 square px: 25 mask pixels
    assert not new_motion(speck, np.zeros((0, 4)), least_area=LEAST)
    assert not new_motion(np.zeros((0, 4)), np.zeros((0, 4)), least_area=LEAST)


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


def test_the_speed_is_the_median_of_the_last_three_measures() -> None:
    board = TrackedBoxes(mp.get_context("spawn").Array("d", BOARD_LENGTH))
    watch = FrameWatch(boards=[board], settings=MotionSettings(width=160))
    box = np.array([[100.0, 60.0, 120.0, 100.0]])
    speeds = []
    for shift in (0, 4, 8, 20, 24, 28):  # 0.1, 0.1, 0.3 (a jump), 0.1, 0.1 a frame
        board.write(box + np.array([shift, 0, shift, 0]))
        speeds.append(watch.view(0, frame_with()).speed)
    assert speeds == [None, pytest.approx(0.1), pytest.approx(0.1), pytest.approx(0.1),
                      pytest.approx(0.1), pytest.approx(0.1)]


def test_a_blob_the_network_already_saw_is_not_new_again() -> None:
    """A mover nobody tracks (the network did not take it for a person) is new on the
    frames before an inferred one, not after."""
    board = TrackedBoxes(mp.get_context("spawn").Array("d", BOARD_LENGTH))
    watch = FrameWatch(boards=[board], settings=MotionSettings(width=160))
    watch.view(0, frame_with())
    assert watch.view(0, frame_with((100, 60))).new_motion
    assert watch.view(0, frame_with((104, 60))).new_motion  # not inferred yet
    watch.inferred(0)
    assert not watch.view(0, frame_with((108, 60))).new_motion
    assert watch.view(0, frame_with((108, 60), (250, 20))).new_motion  # another one


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
