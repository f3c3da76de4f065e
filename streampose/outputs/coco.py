"""COCO keypoint results (the file pycocotools' ``loadRes`` reads), streamed.

Each result's ``image_id`` is the frame's own (:func:`streampose.outputs.base.image_id`),
or, given ``ids`` (:mod:`streampose.outputs.coco_ids`), the id of the image's file name.
Each frame's results are flushed as written; when a write fails (disk full, file removed)
the file is cut back to the last complete result and closed as a valid array (best
effort: that needs three bytes) and the error is an OutputError naming the file.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import numpy as np

from streampose.errors import OutputError
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import abandon, check_writable, write_failed
from streampose.pose import Poses
from streampose.pose.coco import to_coco_results

__all__ = ["CocoResultsSink"]

_WHAT = "COCO results"


class CocoResultsSink(Sink):
    """A COCO keypoint results file (a JSON array), streamed: nothing accumulates in memory.

    ``ids``: image ids by file name; every frame must then be a named image listed there
    (checked before the run by :func:`streampose.outputs.registry.check_outputs`).
    """

    def __init__(self, *, path: Path, ids: Mapping[str, int] | None = None) -> None:
        self.path = path
        self.ids = ids
        self._file: IO[str] | None = None
        self._count = 0
        self._size = 0  # bytes of complete results written (json.dumps gives ASCII)

    def open(self) -> None:
        check_writable(self.path, _WHAT)
        try:
            self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - in close()
        except OSError as exc:
            raise write_failed(_WHAT, self.path, exc) from exc
        self._put("[")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        results = [json.dumps(r) for r in to_coco_results(poses, self._image_id(meta))]
        if results:
            self._put(("," if self._count else "") + "\n" + ",\n".join(results))
            self._count += len(results)

    def _put(self, text: str) -> None:
        if self._file is None:
            raise OutputError(f"{_WHAT} {self.path}: not open")
        try:
            self._file.write(text)
            self._file.flush()
        except OSError as exc:
            self._abandon()
            raise write_failed(_WHAT, self.path, exc) from exc
        self._size += len(text)

    def _abandon(self) -> None:
        """Drop what is buffered, cut back to the last complete result, close the array."""
        file, self._file = self._file, None
        abandon(file, self.path, self._size)
        if self._size:
            with contextlib.suppress(OSError), open(self.path, "a", encoding="utf-8") as f:
                f.write("\n]\n")

    def _image_id(self, meta: FrameMeta) -> int:
        if self.ids is None:
            return meta.image_id
        if meta.name is None or meta.name not in self.ids:
            raise OutputError(f"{_WHAT} {self.path}: image {meta.name!r} (stream "
                              f"{meta.stream}, frame {meta.frame}) has no id in the "
                              "annotation file")
        return self.ids[meta.name]

    def close(self) -> None:
        if self._file is None:
            return
        self._put("\n]\n")
        file, self._file = self._file, None
        try:
            file.close()
        except OSError as exc:
            raise write_failed(_WHAT, self.path, exc) from exc
