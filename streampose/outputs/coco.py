"""COCO keypoint results (the file pycocotools' ``loadRes`` reads), streamed."""

from __future__ import annotations

import json
from pathlib import Path
from typing import IO

import numpy as np

from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import check_writable
from streampose.pose import Poses
from streampose.pose.coco import to_coco_results

__all__ = ["CocoResultsSink"]


class CocoResultsSink(Sink):
    """A COCO keypoint results file (a JSON array), streamed: nothing accumulates in memory."""

    def __init__(self, *, path: Path) -> None:
        self.path = path
        self._file: IO[str] | None = None
        self._count = 0

    def open(self) -> None:
        check_writable(self.path, "COCO results")
        self._file = open(self.path, "w", encoding="utf-8")  # noqa: SIM115 - closed in close()
        self._file.write("[")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        assert self._file is not None, "open() first"
        for result in to_coco_results(poses, meta.image_id):
            self._file.write(("," if self._count else "") + "\n" + json.dumps(result))
            self._count += 1

    def close(self) -> None:
        if self._file is not None:
            self._file.write("\n]\n")
            self._file.close()
            self._file = None
