"""Frame sources: video files (PyAV) and image sets (OpenCV) behind one small interface.

Every source has ``open() -> SourceInfo``, ``frames() -> Iterator[DecodedFrame]`` and an
idempotent ``close()``, and is a context manager. ``open()`` validates the input and raises
one clear :class:`~streampose.errors.SourceError` (a one-line message that starts with the
path); PyAV's own exceptions never escape raw, they are kept as ``__cause__``.

Frames are HxWx3 uint8 BGR, C-contiguous, converted once from the decoder's output
(``to_ndarray(format="bgr24")``: no further copy). ``pts`` are integers in
``SourceInfo.time_base`` and strictly increasing: a missing or non-increasing timestamp
is replaced by the previous one plus one frame duration (see :class:`MonotonicPts`).
"""

from __future__ import annotations

import glob
import logging
import os
import re
import stat
from abc import ABC, abstractmethod
from collections.abc import Iterator
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import cv2
import numpy as np

from streampose.errors import ConfigError, SourceError, SourceNotFoundError
from streampose.lifecycle import Resource

__all__ = [
    "IMAGE_EXTENSIONS",
    "DecodedFrame",
    "ImageSource",
    "MonotonicPts",
    "SourceInfo",
    "VideoFileSource",
    "is_image_uri",
    "open_source",
    "probe_video",
]

log = logging.getLogger(__name__)

IMAGE_EXTENSIONS = frozenset(
    {".bmp", ".jpeg", ".jpg", ".pbm", ".pgm", ".png", ".ppm", ".tif", ".tiff", ".webp"}
)
_GLOB_CHARS = frozenset("*?[")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")
_DIGITS = re.compile(r"(\d+)")


@dataclass(frozen=True)
class SourceInfo:
    """What a source delivers, known after ``open()`` and before the first frame."""

    uri: str  # as given (for files: the path)
    width: int
    height: int
    time_base: Fraction  # of the pts values yielded
    fps: Fraction | None  # average frame rate, if known
    frames: int | None  # frame count (from the container, or estimated), None if unknown
    live: bool = False


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    """One decoded frame: BGR pixels, its timestamp and its position in decode order."""

    image: np.ndarray  # HxWx3 uint8 BGR, C-contiguous
    pts: int  # in SourceInfo.time_base, strictly increasing
    index: int  # 0-based decode order


class MonotonicPts:
    """Keeps timestamps strictly increasing.

    A missing pts, or one not above the previous, becomes ``previous + step`` (``0`` for
    the first frame); ``fixed`` counts the replacements, the first one is logged.
    """

    def __init__(self, *, step: int, what: str) -> None:
        self.step = max(1, int(step))
        self.what = what
        self.last: int | None = None
        self.fixed = 0
        self._warned = False

    def next(self, pts: int | None) -> int:
        """The pts to use for the next frame, given the one it came with."""
        if pts is None or (self.last is not None and pts <= self.last):
            pts = self._replace(pts)
        self.last = int(pts)
        return self.last

    def _replace(self, pts: int | None) -> int:
        if pts is not None and not self._warned:
            self._warned = True
            log.warning("%s: pts %d after %d is not increasing; replaced by previous + %d "
                        "(logged once)", self.what, pts, self.last, self.step)  # fmt: skip
        self.fixed += 1
        return 0 if self.last is None else self.last + self.step


def check_int(owner: str, name: str, value: object, low: int, high: int | None = None) -> int:
    """``value`` if it is an int in ``[low, high]``, else a ConfigError naming it."""
    is_int = isinstance(value, int) and not isinstance(value, bool)
    if is_int and value >= low and (high is None or value <= high):
        return value
    allowed = f">= {low}" if high is None else f"in [{low}, {high}]"
    raise ConfigError(f"{owner}: {name} = {value!r} must be an integer {allowed}")


def frame_step(fps: Fraction | None, time_base: Fraction) -> int:
    """One frame duration in ``time_base`` units (1 when the rate is unknown)."""
    return max(1, round(1 / (fps * time_base))) if fps else 1


def _reason(exc: BaseException) -> str:
    """The short human part of a PyAV/OS error (without errno and file name)."""
    return getattr(exc, "strerror", None) or str(exc) or type(exc).__name__


class _Source(Resource, ABC):
    """The interface of a source, and its context-manager plumbing."""

    _info: SourceInfo | None = None

    @abstractmethod
    def open(self) -> SourceInfo:
        """Validate the input and describe it; idempotent."""

    @abstractmethod
    def frames(self) -> Iterator[DecodedFrame]:
        """The frames in order, from the first."""

    @abstractmethod
    def close(self) -> None:
        """Release what ``open()`` holds; idempotent."""

    @property
    def info(self) -> SourceInfo:
        """The SourceInfo of the last ``open()`` (still there after ``close()``)."""
        if self._info is None:
            raise RuntimeError(f"{type(self).__name__}: open() has not been called")
        return self._info



class VideoFileSource(_Source):
    """Decodes the first video stream of a local file with PyAV (threaded decoding).

    ``threads`` is the decoder's thread count (0: FFmpeg picks one per core);
    ``convert_threads`` the swscale threads for the YUV -> BGR conversion (0: auto; 1 is
    the fastest on small machines, measured). ``open()`` is idempotent.
    """

    def __init__(self, *, path: str | Path, threads: int = 0, convert_threads: int = 1) -> None:
        self.path = Path(path)
        self.uri = str(path)
        self.threads = check_int("VideoFileSource", "threads", threads, 0)
        self.convert_threads = check_int("VideoFileSource", "convert_threads", convert_threads, 0)
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._started = False

    def open(self) -> SourceInfo:
        """Open and validate the file; raises SourceError (or SourceNotFoundError)."""
        if self._container is not None:
            return self.info
        container = _open_input(self.path, self.uri)
        try:
            stream = _video_stream(container, self.uri)
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = self.threads
            info = _video_info(self.uri, container, stream)
        except BaseException:
            container.close()
            raise
        self._container, self._stream, self._info = container, stream, info
        log.debug("opened %s: %s, %d threads", self.uri, info, self.threads)
        return info

    def frames(self) -> Iterator[DecodedFrame]:
        """Decode every frame in order (opens the file if needed).

        Each call starts from the first frame (a second call reopens the file).
        """
        if self._started:
            self.close()
        info = self.open()
        self._started = True
        container, stream = self._container, self._stream
        clock = MonotonicPts(step=frame_step(info.fps, info.time_base), what=self.uri)
        decoded = container.decode(stream)
        index = 0
        while self._container is container:  # close() during iteration ends it
            frame = self._next(decoded, index)
            if frame is None:
                return
            image = self._to_bgr(frame, index)
            yield DecodedFrame(image=image, pts=clock.next(frame.pts), index=index)
            index += 1

    def close(self) -> None:
        """Release the file; safe to call more than once."""
        container, self._container, self._stream = self._container, None, None
        self._started = False
        if container is not None:
            container.close()

    def _next(self, decoded: Iterator[av.VideoFrame], index: int) -> av.VideoFrame | None:
        try:
            return next(decoded, None)
        except av.error.FFmpegError as exc:
            raise SourceError(f"{self.uri}: decode error at frame {index}: {_reason(exc)}") from exc

    def _to_bgr(self, frame: av.VideoFrame, index: int) -> np.ndarray:
        try:
            image = frame.to_ndarray(format="bgr24", threads=self.convert_threads)
        except (av.error.FFmpegError, ValueError) as exc:
            msg = f"{self.uri}: cannot convert frame {index} ({frame.format.name}) to BGR"
            raise SourceError(f"{msg}: {_reason(exc)}") from exc
        return np.ascontiguousarray(image)  # copies only when swscale padded the rows


def _check_file(path: Path, uri: str) -> None:
    """Clear errors for the cases FFmpeg reports confusingly (missing, empty, a URL)."""
    if _URL.match(uri):
        raise SourceError(f"{uri}: is a URL; VideoFileSource reads local files only")
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise SourceNotFoundError(f"{uri}: no such file") from exc
    except OSError as exc:
        raise SourceError(f"{uri}: cannot access the file ({_reason(exc)})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(f"{uri}: is a directory, not a video file")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise SourceError(f"{uri}: file is empty")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{uri}: permission denied")


def _open_input(path: Path, uri: str) -> av.container.InputContainer:
    _check_file(path, uri)
    try:
        return av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(f"{uri}: not a video file ({_reason(exc)})") from exc


def _video_stream(container: av.container.InputContainer, uri: str) -> av.VideoStream:
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        found = f" (only {', '.join(kinds)})" if kinds else ""
        raise SourceError(f"{uri}: has no video stream{found}")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise SourceError(f"{uri}: no decoder for its video codec")
    return stream


def _positive(rate: Fraction | None) -> Fraction | None:
    return Fraction(rate) if rate else None


def _frame_rate(stream: av.VideoStream) -> Fraction | None:
    """The average frame rate, else FFmpeg's guess when plausible (it can be 1/time_base)."""
    guessed = _positive(stream.guessed_rate)
    return _positive(stream.average_rate) or (guessed if guessed and guessed <= 1000 else None)


def _video_info(
    uri: str, container: av.container.InputContainer, stream: av.VideoStream
) -> SourceInfo:
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise SourceError(f"{uri}: video stream has no frame size")
    fps = _frame_rate(stream)
    time_base = _positive(stream.time_base) or (1 / fps if fps else Fraction(1, 90_000))
    frames = _frame_count(container, stream, fps)
    return SourceInfo(uri=uri, width=width, height=height, time_base=time_base, fps=fps,
                      frames=frames)  # fmt: skip


def _frame_count(
    container: av.container.InputContainer, stream: av.VideoStream, fps: Fraction | None
) -> int | None:
    """``stream.frames`` when the container knows it, else duration x fps, else None."""
    if stream.frames > 0:
        return stream.frames
    if fps is None:
        return None
    if stream.duration and stream.time_base:
        seconds = stream.duration * Fraction(stream.time_base)
    elif container.duration:
        seconds = Fraction(container.duration, av.time_base)
    else:
        return None
    return round(seconds * fps) or None


class ImageSource(_Source):
    """Still images as a source: a directory, a glob pattern, or one image file.

    Directories and patterns keep image extensions only (:data:`IMAGE_EXTENSIONS`, any
    case) in natural name order (``img2`` before ``img10``); a directory is not searched
    recursively. ``time_base`` is 1, ``pts`` is the index, ``fps`` is None. Images of
    different sizes are allowed: ``SourceInfo`` reports the first image's size and each
    :class:`DecodedFrame` carries its own. ``names`` lists the file names in order (the
    image ids for outputs) once ``open()`` has run.
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

    def frames(self) -> Iterator[DecodedFrame]:
        """Read the images in order (opens the source if needed)."""
        self.open()
        for index, file in enumerate(self._files):
            yield DecodedFrame(image=_read_image(file, index), pts=index, index=index)

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
        raise SourceError(f"{file}: cannot read the image size ({_reason(exc)})") from exc


def _has_glob(uri: str) -> bool:
    return any(c in _GLOB_CHARS for c in uri)


def _is_image_name(path: Path) -> bool:
    return path.suffix.lower() in IMAGE_EXTENSIONS


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
            raise SourceError(f"{uri}: cannot list the directory ({_reason(exc)})") from exc
    if path.exists():
        if not _is_image_name(path):
            raise SourceError(f"{uri}: not an image file (extension {path.suffix or 'none'})")
        return [path]
    if _has_glob(uri):
        return [Path(p) for p in glob.glob(uri)]
    raise SourceNotFoundError(f"{uri}: no such file or directory")


def _list_images(uri: str) -> list[Path]:
    images = [p for p in _candidates(uri) if _is_image_name(p) and p.is_file()]
    if not images:
        raise SourceError(f"{uri}: no images found ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return sorted(images, key=_natural_key)


def _read_image(file: Path, index: int) -> np.ndarray:
    image = cv2.imread(str(file), cv2.IMREAD_COLOR)
    if image is None:
        raise SourceError(f"{file}: cannot read the image (frame {index})")
    return image


def is_image_uri(uri: str | Path) -> bool:
    """Whether ``uri`` names images: a directory, an image file, or a glob pattern."""
    path = Path(uri)
    if path.is_dir():
        return True
    if path.exists() or not _has_glob(str(uri)):
        return _is_image_name(path)
    return True


def open_source(
    uri: str | Path, *, threads: int = 0, convert_threads: int = 1
) -> VideoFileSource | ImageSource:
    """Build the right source for ``uri`` and open it (``source.info`` is then set).

    A directory, a glob pattern or a file with an image extension gives an
    :class:`ImageSource`; anything else a :class:`VideoFileSource` (``threads`` and
    ``convert_threads`` apply to it only).
    """
    if is_image_uri(uri):
        source: VideoFileSource | ImageSource = ImageSource(path=uri)
    else:
        source = VideoFileSource(path=uri, threads=threads, convert_threads=convert_threads)
    source.open()
    return source


def probe_video(path: str | Path) -> tuple[int, Fraction | None, int, int]:
    """``(frames, average fps, width, height)`` of a video file's first video stream.

    Frames are counted from the demuxed packets (one per frame, nothing decoded), so
    this is exact and cheap; for checking outputs in tests and tools.
    """
    uri = str(path)
    with _open_input(Path(path), uri) as container:
        stream = _video_stream(container, uri)
        try:
            count = sum(1 for packet in container.demux(stream) if packet.size)
        except av.error.FFmpegError as exc:
            raise SourceError(f"{uri}: cannot read packets ({_reason(exc)})") from exc
        width, height = stream.codec_context.width, stream.codec_context.height
        return count, _positive(stream.average_rate), width, height
