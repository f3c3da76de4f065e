"""COCO keypoint results (the file pycocotools' ``loadRes`` reads), streamed.

Each result's ``image_id`` is the frame's own (:func:`streampose.outputs.base.image_id`),
or, given ``ids`` (:mod:`streampose.outputs.coco_ids`), the id of the image's file name.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import IO

import numpy as np

from streampose.errors import OutputError
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import check_writable
from streampose.pose import Poses
from streampose.pose.coco import to_coco_results

__all__ = ["CocoResultsSink"]


class CocoResultsSink(Sink):
    """A COCO keypoint results file (a JSON array), streamed: nothing accumulates in memory.

    ``ids``: image ids by file name; every frame must then be a named image listed there
    (checked before the run by :func:`streampose.outputs.factory.check_outputs`).
    """

    def __init__(self, *, path: Path, ids: Mapping[str, int] | None = None) -> None:
        self.path = path
        self.ids = ids
        self._file: IO[str] | None = None
        self._count = 0

    def open(self) -> None:
        check_writable(self.path, "COCO results")
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write("[")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        assert self._file is not None, "open() first"
        for result in to_coco_results(poses, self._image_id(meta)):
            self._file.write(("," if self._count else "") + "\n" + json.dumps(result))
            self._count += 1

    def _image_id(self, meta: FrameMeta) -> int:
        if self.ids is None:
            return meta.image_id
        if meta.name is None or meta.name not in self.ids:
            raise OutputError(f"COCO results {self.path}: image {meta.name!r} (stream "
                              f"{meta.stream}, frame {meta.frame}) has no id in the "
                              "annotation file")
        return self.ids[meta.name]

    def close(self) -> None:
        if self._file is not None:
            self._file.write("\n]\n")
            self._file.close()
            self._file = None
