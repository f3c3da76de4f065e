"""Every output kind on a full disk (a small tmpfs the test mounts; skipped without root):
exit 4, one stderr line naming the output and the OS error, no traceback, the other
outputs closed and valid, and what the failing output holds still valid.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path

import cv2
import pytest

from streampose.sources import probe_video
from tests.support.cli import run_cli
from tests.support.damaged import make_textured_video
from tests.support.disk import full_disk
from tests.support.models import MODEL_NAME

FRAMES = 40


def _jsonl_valid(path: Path) -> int:
    return len([json.loads(line) for line in path.read_text().splitlines()])


def _coco_valid(path: Path) -> None:
    assert isinstance(json.loads(path.read_text()), list)


def _openpose_valid(folder: Path) -> None:
    for file in folder.iterdir():
        assert "people" in json.loads(file.read_text()), file


def _images_valid(folder: Path) -> None:
    for file in folder.iterdir():
        assert cv2.imread(str(file)) is not None, file


def _summary_absent(path: Path) -> None:
    assert not path.exists()  # written whole or not at all
    assert [p.name for p in path.parent.iterdir() if p.name != ".filler"] == []


# kind -> (the option and the name it writes on the full disk, the label in the error,
#          what must hold of what it wrote; None: nothing can be checked, see below)
KINDS: dict[str, tuple[str, str, str, Callable[[Path], object] | None]] = {
    # a plain MP4 has its index at the end: a full disk leaves it unplayable; fragmented
    # recordings keep their complete fragments (the encoder's ``fragmented``)
    "video": ("-o", "o.mp4", "video output", None),
    "json-lines": ("--json", "o.jsonl", "JSON lines output", _jsonl_valid),
    "coco": ("--coco", "coco.json", "COCO results", _coco_valid),
    "openpose-json": ("--openpose-json", "op/", "OpenPose JSON output", _openpose_valid),
    "images": ("-o", "img/", "image output", _images_valid),
    "summary": ("--summary", "s.json", "summary", _summary_absent),
}


@pytest.mark.parametrize("kind", sorted(KINDS))
def test_full_disk_one_line_exit_4_others_valid(tmp_path: Path, kind: str) -> None:
    option, name, label, check = KINDS[kind]
    clip = make_textured_video(tmp_path / "clip.mp4", frames=FRAMES)
    ok = tmp_path / "ok"
    ok.mkdir()
    others = {"--json": ok / "o.jsonl", "--summary": ok / "s.json", "-o": ok / "o.mp4"}
    others.pop(option, None)
    free = {"summary": 0, "images": 65536, "video": 32768}.get(kind, 8192)  # a few frames fit
    with full_disk(tmp_path / "full", free=free) as full:
        target = full / name
        args = [a for opt, path in others.items() for a in (opt, str(path))]
        result = run_cli("run", str(clip), "--model", str(MODEL_NAME), "--backend", "fake",
                         option, f"{full}/{name}", *args)  # a folder keeps its "/"
        assert result.returncode == 4, result.stderr
        lines = result.stderr.strip().splitlines()
        assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
        assert re.match(rf"^streampose: error: {label} {re.escape(str(full))}/.*No space left "
                        r"on device", lines[0]), lines[0]
        if check is not None:
            check(target)
    if "--json" in others:
        written = _jsonl_valid(others["--json"])
        assert 0 < written <= FRAMES
    if "--summary" in others:
        summary = json.loads(others["--summary"].read_text())
        assert summary["error"]["kind"] == "OutputError" and summary["error"]["exit_code"] == 4
        assert str(full) in summary["error"]["message"]
    if "-o" in others:
        frames = probe_video(others["-o"])[0]
        assert 0 < frames <= FRAMES
