"""The tracked-boxes board: render's latest tracked boxes, read by preprocess in another
process."""

from __future__ import annotations

import multiprocessing as mp
from typing import Any

import numpy as np
import pytest

from streampose.transport.tracked import BOARD_LENGTH, MAX_TRACKED, TrackedBoxes

CTX = mp.get_context("spawn")


def _post(array: Any, boxes: list[list[float]]) -> None:
    TrackedBoxes(array).write(np.array(boxes))


def test_empty_before_any_write_then_the_latest_write() -> None:
    board = TrackedBoxes(CTX.Array("d", BOARD_LENGTH))
    assert board.read().shape == (0, 4) and board.sequence == 0
    board.write(np.array([[1, 2, 3, 4], [5, 6, 7, 8]]))
    board.write(np.array([[10, 20, 30, 40]]))
    np.testing.assert_array_equal(board.read(), [[10, 20, 30, 40]])
    assert board.sequence == 2
    board.clear()
    assert board.read().shape == (0, 4) and board.sequence == 3


def test_at_most_max_tracked_boxes_are_kept() -> None:
    board = TrackedBoxes(CTX.Array("d", BOARD_LENGTH))
    boxes = np.arange(4 * (MAX_TRACKED + 5), dtype=np.float64).reshape(-1, 4)
    board.write(boxes)
    np.testing.assert_array_equal(board.read(), boxes[:MAX_TRACKED])


def test_another_process_s_write_is_read_here() -> None:
    array = CTX.Array("d", BOARD_LENGTH)
    writer = CTX.Process(target=_post, args=(array, [[1.5, 2.5, 30.0, 40.0]]))
    writer.start()
    writer.join(30)
    assert writer.exitcode == 0
    np.testing.assert_array_equal(TrackedBoxes(array).read(), [[1.5, 2.5, 30.0, 40.0]])


def test_a_short_array_is_refused() -> None:
    with pytest.raises(ValueError, match="needs"):
        TrackedBoxes(CTX.Array("d", 3))


def test_latest_reads_the_sequence_and_the_boxes_of_one_post() -> None:
    board = TrackedBoxes(CTX.Array("d", BOARD_LENGTH))
    assert board.latest()[0] == 0
    board.write(np.array([[1, 2, 3, 4]]))
    sequence, boxes = board.latest()
    assert sequence == 1
    np.testing.assert_array_equal(boxes, [[1, 2, 3, 4]])
