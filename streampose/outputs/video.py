"""The annotated frames of one stream as a video file (see :mod:`.encoder`)."""

from __future__ import annotations

import functools
import logging
from fractions import Fraction
from pathlib import Path

import cv2
import numpy as np

from streampose.outputs.base import FrameMeta, Sink
from streampose.outputs.encoder import VideoWriter
from streampose.pose import Poses

__all__ = ["VideoSink", "letterboxed", "segment_path"]

log = logging.getLogger(__name__)


class VideoSink(Sink):
    """The annotated frames of one stream as an H.264 MP4 keeping the source's timing,
    fragmented (playable even if the process is killed; :mod:`.encoder`).

    Frames of other streams are ignored. The video takes the size of its first frame
    (a camera down at start: not the size guessed before). A later frame of another size
    (a source that changed resolution): ``resize="segment"`` (the default, nothing
    lost) ends the file and starts the next segment at the new size
    (:func:`segment_path`; :attr:`paths` lists every file written); ``"letterbox"``
    scales it into the video's size, aspect ratio kept, black bars around it.
    ``rotation``: the display matrix the video keeps (a source's frames left as stored).
    """

    wants_image = True

    def __init__(self, *, stream: int, path: Path, width: int, height: int, fps: Fraction,
                 time_base: Fraction, preset: str, crf: int, threads: int,
                 fragmented: bool = True, resize: str = "segment", rotation: int = 0) -> None:
        self.stream, self.size, self.resize = stream, (width, height), resize
        self._make = functools.partial(VideoWriter, fps=fps, time_base=time_base,
                                       preset=preset, crf=crf, threads=threads,
                                       fragmented=fragmented, rotation=rotation)
        self.paths = [Path(path)]
        self._writer = self._new_writer(self.paths[0], self.size)
        self._source_size = self.size  # the frames' own size, last seen

    @property
    def path(self) -> Path:
        return self.paths[0]

    def open(self) -> None:
        self._writer.open()

    def write(self, meta: FrameMeta, poses: Poses, image: np.ndarray | None) -> None:
        if meta.stream != self.stream or image is None:
            return
        size = (image.shape[1], image.shape[0])
        if size != self.size:
            image = self._resized(image, size)
        self._source_size = size
        self._writer.write(image, meta.pts)

    def close(self) -> None:
        self._writer.close()

    def _new_writer(self, path: Path, size: tuple[int, int]) -> VideoWriter:
        return self._make(path=path, width=size[0], height=size[1])

    def _resized(self, image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """A frame of another size than the video's: the video restarted at its size
        (nothing written yet), the next segment, or the frame letterboxed."""
        if self._writer.frames_written == 0:
            self._restart(self.paths[-1], size)
            return image
        if self.resize == "segment":
            path = segment_path(self.paths[0], len(self.paths) + 1, size)
            log.info("%s: frames are now %dx%d (were %dx%d): continued in %s",
                        self.paths[-1], *size, *self.size, path)  # fmt: skip
            self._restart(path, size)
            self.paths.append(path)
            return image
        if size != self._source_size:
            log.info("%s: frames are now %dx%d: letterboxed into %dx%d", self.paths[0],
                        *size, *self.size)  # fmt: skip
        return letterboxed(image, self.size)

    def _restart(self, path: Path, size: tuple[int, int]) -> None:
        self._writer.close()
        self.size = size
        self._writer = self._new_writer(path, size)
        self._writer.open()


def segment_path(first: Path, number: int, size: tuple[int, int]) -> Path:
    """Segment ``number`` (2, 3, ...) of the video ``first``: ``OUT-part2-640x480.mp4``."""
    return first.with_name(f"{first.stem}-part{number}-{size[0]}x{size[1]}{first.suffix}")


def letterboxed(image: np.ndarray, size: tuple[int, int]) -> np.ndarray:
    """``image`` scaled into ``size`` (width, height), aspect ratio kept, centred on black."""
    width, height = size
    h, w = image.shape[:2]
    scale = min(width / w, height / h)
    new_w, new_h = max(1, min(width, round(w * scale))), max(1, min(height, round(h * scale)))
    out = np.zeros((height, width, 3), np.uint8)
    x, y = (width - new_w) // 2, (height - new_h) // 2
    interpolation = cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR
    out[y:y + new_h, x:x + new_w] = cv2.resize(image, (new_w, new_h),
                                               interpolation=interpolation)
    return out
