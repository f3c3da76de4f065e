"""Still images as a source: a directory, a glob pattern, or one image file (OpenCV).

See ARCHITECTURE.md (sources).
"""

from __future__ import annotations

import glob
import logging
import re
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from streampose.errors import SourceError, SourceNotFoundError, describe_error
from streampose.sources.base import Frame, Source, SourceInfo
from streampose.uri import IMAGE_EXTENSIONS, has_glob, is_image_name

__all__ = ["ImageSource"]

log = logging.getLogger(__name__)

_DIGITS = re.compile(r"(\d+)")


class ImageSource(Source):
    """Still images: a directory, a glob pattern, or one image file.

    Directories and patterns keep image extensions only (:data:`IMAGE_EXTENSIONS`, any
    case) in natural name order (``img2`` before ``img10``); a directory is not searched
    recursively. ``time_base`` is 1, ``pts`` is the index, ``fps`` is None. Images of
    different sizes are allowed: ``SourceInfo`` reports the first image's size and each
    :class:`Frame` carries its own. ``names`` lists the file names in order (the image
    ids for outputs) once ``open()`` has run.
    """

    def __init__(self, *, path: str | Path) -> None:
        self.uri = str(path)
        self.names: list[str] = []
        self._files: list[Path] = []

    def open(self) -> SourceInfo:
        """List and check the images; reads the first one for the size."""
        if self._info is not None:
            return self._info
        files = _list_images(self.uri)
        height, width = _read_image(files[0], 0).shape[:2]
        self._files, self.names = files, [f.name for f in files]
        self._info = SourceInfo(uri=self.uri, width=width, height=height,
                                time_base=Fraction(1), fps=None, frames=len(files))  # fmt: skip
        log.debug("opened %s: %d images", self.uri, len(files))
        return self._info

    def frames(self) -> Iterator[Frame]:
        """Read the images in order (opens the source if needed)."""
        self.open()
        for index, file in enumerate(self._files):
            yield Frame(image=_read_image(file, index), pts=index, index=index)

    def close(self) -> None:
        """Nothing is held open between images: nothing to do."""

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every image, from the file headers (nothing is decoded)."""
        self.open()
        return [_image_size(file) for file in self._files]


def _image_size(file: Path) -> tuple[int, int]:
    try:
        with av.open(str(file)) as container:
            codec = container.streams.video[0].codec_context
            return codec.width, codec.height
    except (av.error.FFmpegError, IndexError) as exc:
        raise SourceError(f"{file}: cannot read the image size ({describe_error(exc)})") from exc


def _natural_key(path: Path) -> tuple[list[str | int], str]:
    text = str(path)
    parts = _DIGITS.split(text.lower())
    return [int(p) if i % 2 else p for i, p in enumerate(parts)], text


def _candidates(uri: str) -> list[Path]:
    path = Path(uri)
    if path.is_dir():
        try:
            return list(path.iterdir())
        except OSError as exc:
            raise SourceError(f"{uri}: cannot list the directory ({describe_error(exc)})") from exc
    if path.exists():
        if not is_image_name(path):
            raise SourceError(f"{uri}: not an image file (extension {path.suffix or 'none'})")
        return [path]
    if has_glob(uri):
        return [Path(p) for p in glob.glob(uri)]
    raise SourceNotFoundError(f"{uri}: no such file or directory")


def _list_images(uri: str) -> list[Path]:
    images = [p for p in _candidates(uri) if is_image_name(p) and p.is_file()]
    if not images:
        raise SourceError(f"{uri}: no images found ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return sorted(images, key=_natural_key)


def _read_image(file: Path, index: int) -> np.ndarray:
    import cv2  # here: a process decoding a video file needs no OpenCV

    image = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{file}: cannot read the image (frame {index})")
    return image
