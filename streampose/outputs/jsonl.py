"""JSON lines: one object per frame, flushed as written (a reader may tail the file)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO, Any

import numpy as np

from streampose.lifecycle import Resource
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import check_writable
from streampose.pose import Poses

__all__ = ["JsonLinesSink", "JsonLinesWriter"]


class JsonLinesWriter(Resource):
    """Appends one compact JSON object per line and flushes each line."""

    def __init__(self, *, path: str | Path) -> None:
        self.path = Path(path)
        self._file: IO[str] | None = None
        self.lines = 0

    def open(self) -> None:
        check_writable(self.path, "JSON lines output")
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()

    def write(self, record: dict[str, Any]) -> None:
        assert self._file is not None, "open() first"
        self._file.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._file.flush()
        self.lines += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None


class JsonLinesSink(Sink):
    """One JSON object per frame: stream, frame, pts, wall, skeleton, persons.

    Each person has ``keypoints`` (K x [x, y, confidence]), ``score`` and ``id``, plus
    ``box`` ([x1, y1, x2, y2]) when the model gives person boxes (one-stage models such as
    YOLO-pose); PAF models' lines have no box (it would only repeat the keypoints' extent).
    """

    def __init__(self, *, path: Path) -> None:
        self._writer = JsonLinesWriter(path=path)

    def open(self) -> None:
        self._writer.open()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        record: dict[str, Any] = {"stream": meta.stream, "frame": meta.frame,
                                  "pts": round(meta.pts_s, 6), "wall": round(meta.wall, 6)}
        if meta.name is not None:
            record["image"] = meta.name
        record.update(poses.to_json())
        self._writer.write(record)

    def close(self) -> None:
        self._writer.close()
