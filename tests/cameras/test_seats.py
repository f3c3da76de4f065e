"""The seat table: the parent assigns and releases, the stages read, render drains."""

from __future__ import annotations

import multiprocessing

import pytest

from streampose.cameras.seats import CAMERA_BYTES, SEAT_MAX_ASPECT, SeatTable
from streampose.config.camera import Camera
from streampose.config.lineup import lineup
from streampose.config.overrides import StreamSettings
from streampose.config.sections import DrawConfig, LiveConfig
from streampose.errors import ConfigError

CTX = multiprocessing.get_context("spawn")
RUN = StreamSettings(live=LiveConfig(), draw=DrawConfig())


def test_a_seat_goes_round_assigned_released_drained() -> None:
    table = SeatTable(seats=2, ctx=CTX)
    assert table.is_free(0) and table.read(0) == (0, None, None)
    door = Camera("door", "rtsp://u:pw@h/x", transport="udp", record=False, blur_faces=True)
    table.assign(0, door)
    assert table.generation(0) == 1 and table.read(0) == (1, door, door)
    assert not table.is_free(0) and table.assigned(0) and table.is_free(1)
    table.release(0)
    assert table.read(0) == (2, None, door)  # the last camera stays readable: its frames
    assert not table.is_free(0)  # ... are still on their way
    table.drained(0, 1)
    assert not table.is_free(0)
    table.drained(0, 2)
    assert table.is_free(0)
    table.drained(0, 1)  # never goes back
    assert table.is_free(0)
    yard = Camera("yard", "rtsp://h/y")
    table.assign(0, yard)
    assert table.read(0) == (3, yard, yard)


def test_a_camera_too_big_for_a_seat_is_refused() -> None:
    table = SeatTable(seats=1, ctx=CTX)
    with pytest.raises(ConfigError, match="more than a seat holds"):
        table.assign(0, Camera("a", "rtsp://h/" + "x" * CAMERA_BYTES))
    assert table.is_free(0)


def _read_in_a_child(table: SeatTable, out: object) -> None:
    out.put(table.read(1))  # type: ignore[attr-defined]


def test_another_process_reads_what_the_parent_wrote() -> None:
    table = SeatTable(seats=2, ctx=CTX)
    table.assign(1, Camera("gate", "rtsp://h/g", draw=False))
    out = CTX.Queue()
    proc = CTX.Process(target=_read_in_a_child, args=(table, out))
    proc.start()
    got = out.get(timeout=60)
    proc.join(60)
    assert got[0] == 1 and got[1] == Camera("gate", "rtsp://h/g", draw=False)


def test_a_fixed_run_s_seats_get_their_cameras_once_at_the_start() -> None:
    """Sources are cameras named after their URI (the URL as given), a cameras file's
    its own; the table never changes and its seats hold their probed sizes."""
    door = Camera("door", "rtsp://cam/door", transport="udp")
    table = SeatTable.for_lineup(lineup((door,), ["rtsp://cam/door"], RUN, changing=False),
                                 ["rtsp://cam/door"], ctx=CTX)
    assert not table.changing and table.max_aspect is None and table.read(0) == (1, door, door)
    urls = ["../media/entrance.mp4", "../media/images"]
    fixed = SeatTable.for_lineup(lineup((), ["entrance.mp4", "images"], RUN, changing=False),
                                 urls, ctx=CTX)
    assert [fixed.read(s)[1] for s in range(2)] == [Camera("entrance", urls[0]),
                                                    Camera("images", urls[1])]


def test_a_changing_run_s_seats_wait_for_the_camera_assigner() -> None:
    run = lineup((Camera("door", "rtsp://cam/door"),), ["rtsp://cam/door", ""], RUN,
                 changing=True)
    table = SeatTable.for_lineup(run, ["rtsp://cam/door"], ctx=CTX)
    assert table.changing and table.max_aspect == SEAT_MAX_ASPECT
    assert table.seats == 2 and table.is_free(0) and table.is_free(1)
