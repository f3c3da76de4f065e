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

__all__ = ["JsonLinesSink", "JsonLinesWriter", "encode_record", "frame_record"]


def frame_record(meta: FrameMeta, poses: Poses) -> dict[str, Any]:
    """One frame's object: stream, frame, pts, wall, image (image sources), skeleton,
    persons (the JSON lines sink writes it; the MQTT sink publishes it)."""
    record: dict[str, Any] = {"stream": meta.stream, "frame": meta.frame,
                              "pts": round(meta.pts_s, 6), "wall": round(meta.wall, 6)}
    if meta.name is not None:
        record["image"] = meta.name
    record.update(poses.to_json())
    return record


def encode_record(record: dict[str, Any]) -> str:
    """Compact JSON text of ``record`` (one line)."""
    return json.dumps(record, separators=(",", ":"))


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
        self._file.write(encode_record(record) + "\n")
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
        self._writer.write(frame_record(meta, poses))

    def close(self) -> None:
        self._writer.close()
