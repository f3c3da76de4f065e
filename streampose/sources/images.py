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

from streampose.errors import SourceError, SourceNotFoundError, describe_error
from streampose.sources.base import Frame, Source, SourceInfo
from streampose.sources.damage import DamageLog
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
    ids for outputs) once ``open()`` has run; a frame's ``index`` is its position there.

    An image that cannot be read (not an image, damaged, gone) is skipped, named in a
    warning and counted (``decode_errors``); when no image at all can be read the source
    raises SourceError naming the folder.
    """

    def __init__(self, *, path: str | Path) -> None:
        self.uri = str(path)
        self.names: list[str] = []
        self._files: list[Path] = []
        self.damage = DamageLog(self.uri, limit=2**62)  # every image is tried

    @property
    def decode_errors(self) -> int:
        return self.damage.count

    def open(self) -> SourceInfo:
        """List the images; the first one whose header can be read gives the size."""
        if self._info is not None:
            return self._info
        files = _list_images(self.uri)
        width, height = _first_size(self.uri, files)
        self._files, self.names = files, [f.name for f in files]
        self._info = SourceInfo(uri=self.uri, width=width, height=height,
                                time_base=Fraction(1), fps=None, frames=len(files))  # fmt: skip
        log.debug("opened %s: %d images", self.uri, len(files))
        return self._info

    def frames(self) -> Iterator[Frame]:
        """Read the images in order (opens the source if needed), skipping unreadable ones."""
        import cv2  # here: a process decoding a video file needs no OpenCV

        self.open()
        count = 0
        for index, file in enumerate(self._files):
            image = cv2.imread(str(file), cv2.IMREAD_COLOR)
            if image is None:
                self.damage.error(f"image {file.name} (frame {index})", "cannot read the image")
                continue
            count += 1
            yield Frame(image=image, pts=index, index=index)
        self.damage.finish()
        if count == 0:
            raise SourceError(f"{self.uri}: none of the {len(self._files)} images can be read")

    def close(self) -> None:
        """Nothing is held open between images: nothing to do."""

    def sizes(self) -> list[tuple[int, int]]:
        """(width, height) of every readable image, from the file headers (nothing is
        decoded); unreadable ones are left out (the decode stage skips and counts them)."""
        self.open()
        sizes = []
        for file in self._files:
            try:
                sizes.append(_image_size(file))
            except SourceError as exc:
                log.debug("%s", exc)
        return sizes


def _first_size(uri: str, files: list[Path]) -> tuple[int, int]:
    """The size of the first image whose header can be read; SourceError if none can."""
    first: SourceError | None = None
    for file in files:
        try:
            return _image_size(file)
        except SourceError as exc:
            first = first or exc
    raise SourceError(f"{uri}: none of the {len(files)} images can be read "
                      f"(the first: {first})")


def _image_size(file: Path) -> tuple[int, int]:
    try:
        with av.open(str(file)) as container:
            codec = container.streams.video[0].codec_context
            width, height = codec.width, codec.height
    except (av.error.FFmpegError, IndexError, OSError) as exc:
        raise SourceError(f"{file.name}: not a readable image ({describe_error(exc)})") from exc
    if width <= 0 or height <= 0:
        raise SourceError(f"{file.name}: not a readable image (no size in its header)")
    return width, height


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
