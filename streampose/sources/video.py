"""Video files decoded with PyAV (threaded), one copy into BGR; see ARCHITECTURE.md (sources).

Frames come from ``to_ndarray(format="bgr24")`` (no further copy). ``pts`` are strictly
increasing: a missing or non-increasing timestamp is replaced by the previous one plus
one frame duration (:class:`~streampose.timestamps.MonotonicPts`). Damaged packets are
skipped, counted and warned about (:mod:`streampose.sources.damage`): a corrupt or
truncated file gives every frame that can be decoded. A file whose display matrix turns
its pictures (phone videos) is turned upright as players show it (``autorotate``, on by
default): ``SourceInfo`` gives the displayed size and the ``rotation`` applied.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import stat
from collections.abc import Iterator
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np

from streampose.errors import SourceError, SourceNotFoundError, check_int, describe_error
from streampose.sources.base import Frame, Source, SourceInfo
from streampose.sources.damage import MAX_CONSECUTIVE_ERRORS, DamageLog, decode_packets
from streampose.timestamps import MonotonicPts, frame_step
from streampose.uri import is_url

__all__ = ["VideoFileSource", "open_input", "stored_rotation", "upright_info",
           "video_stream"]

log = logging.getLogger(__name__)


class VideoFileSource(Source):
    """Decodes the first video stream of a local file with PyAV (threaded decoding).

    ``threads`` is the decoder's thread count (0: FFmpeg picks one per core);
    ``convert_threads`` the swscale threads for the YUV -> BGR conversion (0: auto; 1 is
    the fastest on small machines, measured); ``max_errors`` decode errors in a row give
    the file up (SourceError). ``open()`` is idempotent.
    """

    def __init__(self, *, path: str | Path, threads: int = 0, convert_threads: int = 1,
                 max_errors: int = MAX_CONSECUTIVE_ERRORS) -> None:
        self.path = Path(path)
        self.uri = str(path)
        self.threads = check_int("VideoFileSource", "threads", threads, 0)
        self.convert_threads = check_int("VideoFileSource", "convert_threads", convert_threads, 0)
        self._container: av.container.InputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._started = False
        self.max_errors = check_int("VideoFileSource", "max_errors", max_errors, 1)
        self.damage = DamageLog(self.uri, limit=self.max_errors)

    @property
    def decode_errors(self) -> int:
        return self.damage.count

    def open(self) -> SourceInfo:
        """Open and validate the file; raises SourceError (or SourceNotFoundError)."""
        if self._container is not None:
            return self.info
        container = open_input(self.path, self.uri)
        try:
            stream = video_stream(container, self.uri)
            stream.thread_type = "AUTO"
            stream.codec_context.thread_count = self.threads
            info = _video_info(self.uri, container, stream)
            info = _oriented(info, stored_rotation(self.path), upright=self.autorotate)
        except BaseException:
            container.close()
            raise
        self._container, self._stream, self._info = container, stream, info
        log.debug("opened %s: %s, %d threads", self.uri, info, self.threads)
        return info

    def frames(self) -> Iterator[Frame]:
        """Decode every frame in order (opens the file if needed).

        Each call starts from the first frame (a second call reopens the file).
        """
        if self._started:
            self.close()
        info = self.open()
        self._started = True
        container, stream = self._container, self._stream
        assert container is not None and stream is not None
        clock = MonotonicPts(step=frame_step(info.fps, info.time_base), what=self.uri)
        index = 0
        self.damage = DamageLog(self.uri, limit=self.max_errors)  # this pass over the file
        for frame in decode_packets(container, stream, self.damage, resume_demux=True):
            image = self._to_bgr(frame, index)
            if image is None:
                continue
            if info.rotation:
                image = np.ascontiguousarray(np.rot90(image, info.rotation // 90))
            self.damage.good()
            yield Frame(image=image, pts=clock.next(frame.pts), index=index)
            index += 1
            if self._container is not container:  # close() during iteration ends it
                return
        self._missing(stream, index)
        self.damage.finish()
        if index == 0 and self.damage.count:
            raise SourceError(f"{self.uri}: no frame could be decoded "
                              f"({self.damage.count} decode errors)")

    def close(self) -> None:
        """Release the file; safe to call more than once."""
        container, self._container, self._stream = self._container, None, None
        self._started = False
        if container is not None:
            container.close()

    def _missing(self, stream: av.VideoStream, decoded: int) -> None:
        """Frames the container lists but the file does not hold (truncated), counted."""
        missing = stream.frames - decoded - self.damage.count - self.damage.discarded
        if stream.frames > 0 and missing > 0:
            self.damage.lost(missing, f"the file lists {stream.frames} frames but ends after "
                                      f"{decoded}: truncated?")

    def _to_bgr(self, frame: av.VideoFrame, index: int) -> np.ndarray | None:
        """The frame as BGR, or None (counted as damage) when it cannot be converted."""
        try:
            image = frame.to_ndarray(format="bgr24", threads=self.convert_threads)
        except (av.error.FFmpegError, ValueError) as exc:
            reason = f"cannot convert {frame.format.name} to BGR ({describe_error(exc)})"
            self.damage.error(f"frame {index}", reason)
            return None
        return np.ascontiguousarray(image)  # copies only when swscale padded the rows


def stored_rotation(path: Path) -> int:
    """Degrees (0, 90, 180 or 270) counter-clockwise that turn the file's stored
    pictures upright, as its display matrix says (read from its first frame, as players
    do), else its legacy ``rotate`` tag; 0 when it has neither, it is not a quarter
    turn, or the file cannot be read."""
    try:
        with av.open(str(path), metadata_errors="replace") as container:
            degrees = _display_degrees(container)
    except (av.error.FFmpegError, OSError, ValueError, IndexError):
        return 0
    turn = round(degrees / 90)
    if abs(degrees - 90 * turn) > 1:
        log.warning("%s: display matrix turns by %g degrees, not a quarter turn: kept as "
                    "stored", path, degrees)
        return 0
    return 90 * (turn % 4)


def _display_degrees(container: av.container.InputContainer) -> float:
    """Counter-clockwise degrees: the first frame's display matrix, else the stream's
    ``rotate`` tag (clockwise degrees, as older muxers and MKV files carry it)."""
    stream = container.streams.video[0]
    for frame in container.decode(stream):
        if frame.rotation:
            return float(frame.rotation)
        break
    tag = next((v for k, v in stream.metadata.items() if k.lower() == "rotate"), "0")
    return -float(tag)


def _oriented(info: SourceInfo, rotation: int, *, upright: bool) -> SourceInfo:
    """``info`` of pictures turned upright (``upright``), else of the stored ones, whose
    ``display_rotation`` a recording keeps."""
    if upright:
        return upright_info(info, rotation)
    return dataclasses.replace(info, display_rotation=rotation) if rotation else info


def upright_info(info: SourceInfo, rotation: int) -> SourceInfo:
    """``info`` of the pictures turned ``rotation`` degrees (width and height swapped
    for a quarter turn)."""
    if not rotation:
        return info
    log.info("%s: turned %d degrees upright, as its display matrix says", info.uri, rotation)
    width, height = (info.height, info.width) if rotation % 180 else (info.width, info.height)
    return dataclasses.replace(info, width=width, height=height, rotation=rotation)


def _check_file(path: Path, uri: str) -> None:
    """Clear errors for the cases FFmpeg reports confusingly (missing, empty, a URL)."""
    if is_url(uri):
        raise SourceError(f"{uri}: is a URL; VideoFileSource reads local files only")
    try:
        st = path.stat()
    except FileNotFoundError as exc:
        raise SourceNotFoundError(f"{uri}: no such file") from exc
    except OSError as exc:
        raise SourceError(f"{uri}: cannot access the file ({describe_error(exc)})") from exc
    if stat.S_ISDIR(st.st_mode):
        raise SourceError(f"{uri}: is a directory, not a video file")
    if stat.S_ISREG(st.st_mode) and st.st_size == 0:
        raise SourceError(f"{uri}: file is empty")
    if not os.access(path, os.R_OK):
        raise SourceError(f"{uri}: permission denied")


def open_input(path: Path, uri: str) -> av.container.InputContainer:
    """The file opened by PyAV, after clear checks; SourceError when it is not a video."""
    _check_file(path, uri)
    try:
        return av.open(str(path), metadata_errors="replace")
    except (av.error.FFmpegError, OSError) as exc:
        raise SourceError(f"{uri}: not a video file ({describe_error(exc)})") from exc


def video_stream(container: av.container.InputContainer, uri: str) -> av.VideoStream:
    """The first video stream; SourceError naming what the file has instead."""
    if not container.streams.video:
        kinds = sorted({s.type for s in container.streams})
        found = f" (only {', '.join(kinds)})" if kinds else ""
        raise SourceError(f"{uri}: has no video stream{found}")
    stream = container.streams.video[0]
    if stream.codec_context is None:
        raise SourceError(f"{uri}: no decoder for its video codec")
    return stream


def positive(rate: Fraction | None) -> Fraction | None:
    """``rate`` as a Fraction, or None when it is missing or zero."""
    return Fraction(rate) if rate else None


def _frame_rate(stream: av.VideoStream) -> Fraction | None:
    """The average frame rate, else FFmpeg's guess when plausible (it can be 1/time_base)."""
    guessed = positive(stream.guessed_rate)
    return positive(stream.average_rate) or (guessed if guessed and guessed <= 1000 else None)


def _video_info(
    uri: str, container: av.container.InputContainer, stream: av.VideoStream
) -> SourceInfo:
    width, height = stream.codec_context.width, stream.codec_context.height
    if not width or not height:
        raise SourceError(f"{uri}: video stream has no frame size")
    fps = _frame_rate(stream)
    time_base = positive(stream.time_base) or (1 / fps if fps else Fraction(1, 90_000))
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
