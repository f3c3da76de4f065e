"""A write that fails mid-run (disk full) in each streamed sink and in ``write_file``:
an OutputError naming the output and the OS error, and what was written before stays
valid. The disk is simulated by a file object that writes part of the text then fails
(the full-disk tests in test_full_disk.py do it for real, as root)."""

from __future__ import annotations

import errno
import json
from pathlib import Path
from typing import IO, Any

import numpy as np
import pytest

from streampose.errors import OutputError
from streampose.outputs.base import FrameMeta
from streampose.outputs.coco import CocoResultsSink
from streampose.outputs.jsonl import JsonLinesWriter
from streampose.outputs.writable import write_file
from streampose.pose import Poses, get_skeleton


class _FillingFile:
    """Wraps a real text file: after ``room`` characters, writes half and fails."""

    def __init__(self, real: IO[str], room: int) -> None:
        self.real, self.room = real, room

    def write(self, text: str) -> int:
        if len(text) > self.room:
            self.real.write(text[: len(text) // 2])
            self.real.flush()
            raise OSError(errno.ENOSPC, "No space left on device")
        self.room -= len(text)
        return self.real.write(text)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.real, name)


def _meta(frame: int) -> FrameMeta:
    return FrameMeta(stream=0, frame=frame, pts=frame, pts_s=frame / 10, wall=0.0,
                     image_id=frame)


def _poses() -> Poses:
    skeleton = get_skeleton("coco17")
    keypoints = np.full((1, skeleton.num_keypoints, 3), 10.0, np.float32)
    keypoints[..., 2] = 0.9
    return Poses(keypoints, np.full(1, 0.9, np.float32), skeleton)


def test_json_lines_cut_back_to_the_last_complete_line(tmp_path: Path) -> None:
    path = tmp_path / "o.jsonl"
    writer = JsonLinesWriter(path=path)
    writer.open()
    writer.write({"frame": 0})
    assert writer._file is not None
    writer._file = _FillingFile(writer._file, room=0)  # type: ignore[assignment]
    with pytest.raises(OutputError, match=rf"^JSON lines output {path}: cannot write "
                                          r"\(No space left on device\)$"):
        writer.write({"frame": 1, "persons": ["x" * 100]})
    writer.close()  # nothing more to do, no second error
    assert path.read_text() == '{"frame":0}\n'


def test_coco_results_stay_a_valid_array(tmp_path: Path) -> None:
    path = tmp_path / "coco.json"
    sink = CocoResultsSink(path=path)
    sink.open()
    sink.write(_meta(1), _poses(), None)
    assert sink._file is not None
    sink._file = _FillingFile(sink._file, room=0)  # type: ignore[assignment]
    with pytest.raises(OutputError, match=rf"^COCO results {path}: cannot write"):
        sink.write(_meta(2), _poses(), None)
    sink.close()
    results = json.loads(path.read_text())
    assert [r["image_id"] for r in results] == [1]


def test_write_file_is_whole_or_absent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "s.json"
    write_file(path, "{}\n")
    assert path.read_text() == "{}\n"

    def full(self: Path, text: str, **kwargs: Any) -> int:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(Path, "write_text", full)
    with pytest.raises(OutputError, match=rf"^summary {path}: cannot write \(No space left"):
        write_file(path, '{"new": 1}\n')
    monkeypatch.undo()
    assert path.read_text() == "{}\n" and sorted(p.name for p in tmp_path.iterdir()) == [
        "s.json"]
