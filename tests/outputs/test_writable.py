"""streampose.outputs.writable: the one writability check, and folder creation."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from streampose.errors import OutputError
from streampose.outputs.writable import check_writable, make_folder


def _no_writes_allowed() -> bool:
    return os.geteuid() != 0  # root writes anywhere: permission cases cannot be shown


def test_a_writable_path_passes_and_nothing_stays(tmp_path: Path) -> None:
    check_writable(tmp_path / "out.json", "summary")
    existing = tmp_path / "old.json"
    existing.write_text("{}")
    check_writable(existing, "summary")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["old.json"]
    assert existing.read_text() == "{}"


def _file_in_the_way(tmp: Path) -> Path:
    (tmp / "file").write_text("x")
    return tmp / "file" / "out.json"


@pytest.mark.parametrize(("make", "message"), [
    (lambda t: t, r"^COCO results .*: is a directory$"),
    (lambda t: t / "nope" / "out.json",
     r"^COCO results .*out\.json: folder .*nope does not exist$"),
    (_file_in_the_way, r"^COCO results .*out\.json: .*file is not a directory$"),
], ids=["a directory", "missing folder", "under a file"])
def test_refusals_name_the_output_and_the_path(tmp_path: Path, make, message: str) -> None:
    with pytest.raises(OutputError, match=message) as info:
        check_writable(make(tmp_path), "COCO results")
    assert isinstance(info.value, OSError) and "\n" not in str(info.value)


@pytest.mark.skipif(not _no_writes_allowed(), reason="root ignores file permissions")
def test_read_only_folder_and_file_are_refused(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    locked.mkdir()
    (tmp_path / "ro.json").write_text("{}")
    (tmp_path / "ro.json").chmod(0o444)
    locked.chmod(0o555)
    try:
        with pytest.raises(OutputError, match=r"summary .*: cannot write in .*locked \("):
            check_writable(locked / "out.json", "summary")
        with pytest.raises(OutputError, match="file exists and is not writable"):
            check_writable(tmp_path / "ro.json", "summary")
    finally:
        locked.chmod(0o755)


def test_make_folder_creates_parents_and_accepts_an_existing_folder(tmp_path: Path) -> None:
    folder = tmp_path / "a" / "b"
    make_folder(folder, "image output folder")
    assert folder.is_dir() and not any(folder.iterdir())
    make_folder(folder, "image output folder")


def test_make_folder_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(OutputError, match=r"^OpenPose JSON folder .*f: cannot create \("):
        make_folder(tmp_path / "f", "OpenPose JSON folder")
