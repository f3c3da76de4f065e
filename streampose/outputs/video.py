"""The annotated frames of one stream as a video file (see :mod:`.encoder`)."""

from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.encoder import VideoWriter
from streampose.pose import Poses

__all__ = ["VideoSink"]


class VideoSink(Sink):
    """The annotated frames of one stream as an H.264 MP4 keeping the source's timing,
    fragmented (playable even if the process is killed; :mod:`.encoder`).

    Frames of other streams are ignored. A frame whose size differs from ``width`` x
    ``height`` (a camera that changed resolution) is scaled to it.
    """

    wants_image = True

    def __init__(self, *, stream: int, path: Path, width: int, height: int, fps: Fraction,
                 time_base: Fraction, preset: str, crf: int, threads: int,
                 fragmented: bool = True) -> None:
        self.stream, self.size = stream, (width, height)
        self._writer = VideoWriter(path=path, width=width, height=height, fps=fps,
                                   time_base=time_base, preset=preset, crf=crf,
                                   threads=threads, fragmented=fragmented)

    @property
    def path(self) -> Path:
        return self._writer.path

    def open(self) -> None:
        self._writer.open()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        if meta.stream != self.stream or image is None:
            return
        if (image.shape[1], image.shape[0]) != self.size:  # a camera changed resolution
            image = cv2.resize(image, self.size, interpolation=cv2.INTER_AREA)
        self._writer.write(image, meta.pts)

    def close(self) -> None:
        self._writer.close()
