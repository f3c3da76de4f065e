"""JSON lines: one object per frame (``--json``) or per event (``--events``), flushed as
written (a reader may tail the file; it is valid whenever it is read, even if the run is
killed).

When a write fails (disk full, file removed), the file is cut back to its last complete
line and the error is an OutputError naming the file: what was written stays valid.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import IO, TYPE_CHECKING, Any

import numpy as np

from streampose.errors import OutputError
from streampose.lifecycle import Resource
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import abandon, check_writable, discard_partial, write_failed
from streampose.pose import Poses

if TYPE_CHECKING:
    from streampose.events.event import Event

__all__ = ["EventsSink", "JsonLinesSink", "JsonLinesWriter", "encode_record", "frame_record"]


def frame_record(meta: FrameMeta, poses: Poses) -> dict[str, Any]:
    """One frame's object: stream, camera (a run from a cameras file), frame, pts, wall,
    image (image sources), width and height (only when the frame size changed: the
    keypoints are in the new size's pixels), skeleton, persons (the JSON lines sink
    writes it; the MQTT sink publishes it)."""
    record: dict[str, Any] = {"stream": meta.stream}
    if meta.camera is not None:
        record["camera"] = meta.camera
    record.update({"frame": meta.frame, "pts": round(meta.pts_s, 6),
                   "wall": round(meta.wall, 6)})
    if meta.name is not None:
        record["image"] = meta.name
    if meta.size is not None:
        record["width"], record["height"] = meta.size
    record.update(poses.to_json())
    return record


def encode_record(record: dict[str, Any]) -> str:
    """Compact JSON text of ``record`` (one line)."""
    return json.dumps(record, separators=(",", ":"))


class JsonLinesWriter(Resource):
    """Appends one compact JSON object per line and flushes each line."""

    def __init__(self, *, path: str | Path, what: str = "JSON lines output") -> None:
        self.path, self.what = Path(path), what
        self._file: IO[str] | None = None
        self.lines = 0
        self._size = 0  # bytes of complete lines written (json.dumps gives ASCII)

    def open(self) -> None:
        check_writable(self.path, self.what)
        try:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - in close()
        except OSError as exc:
            raise write_failed(self.what, self.path, exc) from exc

    def write(self, record: dict[str, Any]) -> None:
        if self._file is None:
            raise OutputError(f"{self.what} {self.path}: not open")
        line = encode_record(record) + "\n"
        try:
            self._file.write(line)
            self._file.flush()
        except OSError as exc:
            self._abandon()
            raise write_failed(self.what, self.path, exc) from exc
        self._size += len(line)
        self.lines += 1

    def close(self) -> None:
        file, self._file = self._file, None
        if file is None:
            return
        try:
            file.close()
        except OSError as exc:
            discard_partial(self.path, self._size)
            raise write_failed(self.what, self.path, exc) from exc

    def _abandon(self) -> None:
        """Drop what is buffered and cut the file back to its last complete line."""
        file, self._file = self._file, None
        abandon(file, self.path, self._size)


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


class EventsSink(Sink):
    """Writes the events of every stream to one JSON lines file (``Event.to_json``)."""

    wants_events = True

    def __init__(self, *, path: Path) -> None:
        self._writer = JsonLinesWriter(path=path)

    @property
    def lines(self) -> int:
        return self._writer.lines

    def open(self) -> None:
        self._writer.open()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        """Nothing per frame: only events are written."""

    def write_events(self, meta: FrameMeta, events: Sequence[Event]) -> None:
        for event in events:
            self._writer.write(event.to_json())

    def close(self) -> None:
        self._writer.close()
