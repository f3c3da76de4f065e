"""Annotated images written to a folder (image sources, or ``-o folder/``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from streampose.errors import OutputError
from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.writable import discard_partial, make_folder, write_failed
from streampose.pose import Poses

__all__ = ["ImageFolderSink"]


class ImageFolderSink(Sink):
    """Annotated images written to a folder under their source names (image sources).

    Frames without a name (video frames) are written as ``frame_<stream>_<frame:06d>.jpg``.
    """

    wants_image = True

    def __init__(self, *, folder: Path) -> None:
        self.folder = folder

    def open(self) -> None:
        make_folder(self.folder, "image output folder")

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        import cv2  # here: importing the sinks costs no OpenCV

        if image is None:
            return
        name = meta.name or f"frame_{meta.stream}_{meta.frame:06d}.jpg"
        path = self.folder / name
        ok, data = cv2.imencode(path.suffix or ".jpg", image)
        if not ok:
            raise OutputError(f"image output {path}: cannot encode the image")
        try:
            path.write_bytes(data.tobytes())
        except OSError as exc:
            discard_partial(path)  # no half-written image left behind
            raise write_failed("image output", path, exc) from exc
