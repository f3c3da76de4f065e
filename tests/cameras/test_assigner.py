"""The cameras file applied to the seats: by name, removed at once, added when a
seat is free, the file re-read on change or on request, mistakes leaving things as they are."""

from __future__ import annotations

import logging
import multiprocessing
import os
from pathlib import Path

import pytest

from streampose.cameras.assigner import CameraAssigner
from streampose.cameras.seats import SeatTable
from streampose.config.camera import Camera

CTX = multiprocessing.get_context("spawn")


def cam(name: str, url: str | None = None, **kw: object) -> Camera:
    return Camera(name, url or f"rtsp://h/{name}", **kw)  # type: ignore[arg-type]


def write(path: Path, cameras: list[Camera], mtime: int) -> None:
    text = '[batching]\nbatch = 2\n' + "".join(
        f'[[camera]]\nname = "{c.name}"\nurl = "{c.url}"\n' for c in cameras)
    path.write_text(text)
    os.utime(path, ns=(mtime, mtime))  # a new modification time, however fast the test


def drain(table: SeatTable) -> None:
    """What render does once a removed camera's frames are out."""
    for seat in range(table.seats):
        table.drained(seat, table.generation(seat))


def test_the_first_cameras_fill_the_slots_in_order() -> None:
    table = SeatTable(seats=3, ctx=CTX)
    seen: list[tuple[int, str]] = []
    assigner = CameraAssigner(table, on_change=lambda s, n: seen.append((s, n)))
    assigner.start((cam("a"), cam("b")))
    assert assigner.names == ["a", "b", ""] and seen == [(0, "a"), (1, "b")]
    assert [table.read(s)[1] for s in range(3)] == [cam("a"), cam("b"), None]


def test_the_file_s_difference_is_applied(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    write(file, [cam("a"), cam("b")], 1)
    table = SeatTable(seats=2, ctx=CTX)
    seen: list[tuple[int, str]] = []
    assigner = CameraAssigner(table, path=file, on_change=lambda s, n: seen.append((s, n)))
    assigner.start((cam("a"), cam("b")))
    seen.clear()
    assigner.tick(0.0)
    assert seen == []  # unchanged file: nothing happens

    write(file, [cam("b"), cam("c")], 2)  # a leaves, c comes: a's seat once drained
    assigner.tick(10.0)
    assert seen == [(0, "")] and assigner.names == ["", "b"]
    assert [c.name for c in assigner.pending] == ["c"]
    assigner.tick(10.1)
    assert assigner.names == ["", "b"]  # a's frames are not all out yet
    drain(table)
    assigner.tick(10.2)
    assert assigner.names == ["c", "b"] and seen[-1] == (0, "c")
    assert assigner.history == [["a", "c"], ["b"]]

    write(file, [cam("b", "rtsp://h/other"), cam("c")], 3)  # b changed: removed, re-added
    assigner.tick(20.0)
    drain(table)
    assigner.tick(20.1)
    assert assigner.names == ["c", "b"] and table.read(1)[1] == cam("b", "rtsp://h/other")


def test_a_camera_waits_for_a_free_slot(tmp_path: Path, caplog: pytest.LogCaptureFixture
                                        ) -> None:
    table = SeatTable(seats=1, ctx=CTX)
    assigner = CameraAssigner(table)
    with caplog.at_level(logging.ERROR):
        assigner.start((cam("a"), cam("b")))
    assert assigner.names == ["a"] and [c.name for c in assigner.pending] == ["b"]
    assert "camera 'b' waits: all 1 seats are taken" in caplog.text


def test_sighup_rereads_without_a_new_mtime(tmp_path: Path) -> None:
    file = tmp_path / "c.toml"
    write(file, [cam("a")], 1)
    table = SeatTable(seats=2, ctx=CTX)
    assigner = CameraAssigner(table, path=file)
    assigner.start((cam("a"),))
    write(file, [cam("a"), cam("b")], 1)  # same modification time
    assigner.tick(0.5)
    assert assigner.names == ["a", ""]
    assigner.request()
    assigner.tick(0.6)
    assert assigner.names == ["a", "b"]


def test_a_broken_file_or_a_file_camera_changes_nothing(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "c.toml"
    write(file, [cam("a")], 1)
    table = SeatTable(seats=2, ctx=CTX)
    assigner = CameraAssigner(table, path=file)
    assigner.start((cam("a"),))
    file.write_text('[[camera]]\nname = "a"\nurl = "rtsp://u:s3cr3t@h:bad/x"\n')
    os.utime(file, ns=(2, 2))
    with caplog.at_level(logging.ERROR):
        assigner.tick(5.0)
    assert "cameras file not applied" in caplog.text and "s3cr3t" not in caplog.text
    write(file, [cam("a"), Camera("f", str(tmp_path / "x.mp4"))], 3)
    with caplog.at_level(logging.ERROR):
        assigner.tick(10.0)
    assert "'f' is a file" in caplog.text
    assert assigner.names == ["a", ""]


def test_other_tables_changing_is_a_warning(tmp_path: Path,
                                            caplog: pytest.LogCaptureFixture) -> None:
    file = tmp_path / "c.toml"
    write(file, [cam("a")], 1)
    assigner = CameraAssigner(SeatTable(seats=1, ctx=CTX), path=file)
    assigner.start((cam("a"),))
    file.write_text('[batching]\nbatch = 8\n[[camera]]\nname = "a"\nurl = "rtsp://h/a"\n')
    os.utime(file, ns=(2, 2))
    with caplog.at_level(logging.WARNING):
        assigner.tick(5.0)
    assert "take effect at the next start" in caplog.text and assigner.names == ["a"]


def test_each_camera_gets_its_share_of_the_slot_s_counters() -> None:
    table = SeatTable(seats=1, ctx=CTX)
    counts = {"frames_out": 0}
    assigner = CameraAssigner(table, counts=lambda seat: dict(counts))
    assigner.start((cam("a"),))
    counts["frames_out"] = 30
    assigner._apply((cam("b"),))  # a leaves; b waits for the seat
    counts["frames_out"] = 32  # a's last frames come out
    drain(table)
    assigner.tick(1.0)
    counts["frames_out"] = 50
    assert assigner.camera_counts() == [[{"camera": "a", "frames_out": 32},
                                         {"camera": "b", "frames_out": 18}]]
