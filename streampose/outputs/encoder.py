"""The encoder: BGR frames in, an H.264 MP4 (PyAV, libx264) out, source timestamps kept.

:class:`VideoWriter` is a :class:`~streampose.lifecycle.Resource` used by the video sink.

- **Timestamps.** ``write(image, pts)`` takes the pts in ``time_base`` (pass the source's
  ``SourceInfo.time_base`` and each frame's pts): the output has the source's timing and
  frame count, so a 10 fps source gives a 10 fps output. ``pts=None`` means "the next
  frame at ``fps``" (frame ``n`` at ``n / fps`` seconds). A pts that does not increase is
  replaced by the previous one plus one frame (the muxer needs increasing timestamps).
- **Odd sizes.** ``yuv420p`` needs even dimensions: an odd width or height is padded by
  one column/row repeating the last one (no pixel is lost), so the output can be one
  pixel wider/taller than the frames (:attr:`VideoWriter.output_size`).
- **Always a valid file.** ``open()`` writes the header; ``close()`` flushes the encoder
  (``encode(None)``) and writes the trailer. With no frame written the file is still a
  valid MP4 with one (empty) video track (other containers, e.g. MKV, do not promise
  that).
- **Killed, still playable.** MP4/MOV files are fragmented by default
  (``fragmented=True``: ``frag_keyframe+delay_moov+default_base_moof``, a fragment at
  least every second of video, handed to the OS as written): a process killed mid-run
  leaves a file that plays up to its last complete fragment. ``delay_moov`` writes the
  header with the first fragment, once the encoder's delay is known, so B-frames keep
  their exact timestamps (``empty_moov`` would shift every frame by the reorder delay);
  the cost is that a file killed before its first fragment holds no video at all. A
  finished fragmented file plays in every MP4 player, browsers included, with the same
  frames and timestamps as a plain one; its header just has no frame count (tools count
  the packets, or use duration x fps). ``fragmented=False`` writes a plain MP4 (its
  index at the end: unreadable if the process dies before ``close()``).
- **CPU.** ``threads`` bounds the encoder's threads (x264 ``threads``; 0 = auto).
- **Colours.** BGR -> yuv420p with ``colour`` (``bt601``, the default, or ``bt709``),
  limited range (:mod:`streampose.outputs.yuv`: OpenCV, a third of swscale's CPU,
  within one level of FFmpeg's conversion), and the stream tagged with that matrix, its
  primaries, transfer and range, so players decode the colours as they were encoded.
  The same frames always give the same bytes.
"""

from __future__ import annotations

import contextlib
import logging
from fractions import Fraction
from pathlib import Path
from typing import cast

import av
import av.error
import numpy as np

from streampose.errors import ConfigError, OutputError, check_int, describe_error
from streampose.lifecycle import Resource
from streampose.outputs.writable import check_writable
from streampose.outputs.yuv import LIMITED_RANGE, I420Converter, colour_matrix
from streampose.timestamps import MonotonicPts, frame_step

__all__ = ["VideoWriter"]

log = logging.getLogger(__name__)

_FRAGMENT_OPTIONS = {
    "movflags": "frag_keyframe+delay_moov+default_base_moof",
    "frag_duration": "1000000",  # microseconds: a fragment at least every second
    "flush_packets": "1",  # hand each fragment to the OS at once
}
_MOV_SUFFIXES = frozenset({".mp4", ".mov", ".m4v"})
_X264_LIKE = frozenset({"libx264", "libx265", "h264", "hevc"})
_X264_PRESETS = ("ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                 "slower", "veryslow", "placebo")  # fmt: skip


def _positive_fraction(name: str, value: Fraction | float | str) -> Fraction:
    try:
        frac = Fraction(value).limit_denominator(1_000_000)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"VideoWriter: {name} = {value!r} must be a number > 0") from exc
    if frac <= 0:
        raise ConfigError(f"VideoWriter: {name} = {value!r} must be > 0")
    return frac


def _check_codec(codec: str) -> str:
    try:
        av.Codec(codec, "w")
    except (ValueError, TypeError) as exc:
        raise ConfigError(f"VideoWriter: codec = {codec!r} is not an available encoder") from exc
    return codec


def _check_preset(codec: str, preset: str) -> str:
    if codec in _X264_LIKE and preset not in _X264_PRESETS:
        allowed = ", ".join(_X264_PRESETS)
        raise ConfigError(f"VideoWriter: preset = {preset!r} must be one of {allowed}")
    return preset


def _even(n: int) -> int:
    return n + (n & 1)


class VideoWriter(Resource):
    """Encodes BGR frames to a video file (MP4/H.264 by default); see the module notes."""

    def __init__(
        self,
        *,
        path: str | Path,
        width: int,
        height: int,
        fps: Fraction,
        time_base: Fraction | None = None,
        codec: str = "libx264",
        crf: int = 23,
        preset: str = "veryfast",
        threads: int = 1,
        fragmented: bool = True,
        colour: str = "bt601",
        rotation: int = 0,
    ) -> None:
        self.path = Path(path)
        self.width = check_int("VideoWriter", "width", width, 1)
        self.height = check_int("VideoWriter", "height", height, 1)
        self.fps = _positive_fraction("fps", fps)
        self.time_base = 1 / self.fps if time_base is None else _positive_fraction(
            "time_base", time_base)  # fmt: skip
        self.codec = _check_codec(codec)
        self.crf = check_int("VideoWriter", "crf", crf, 0, 51)
        self.preset = _check_preset(self.codec, preset)
        self.threads = check_int("VideoWriter", "threads", threads, 0)
        try:
            self.colour = colour_matrix(colour)
        except ValueError as exc:
            raise ConfigError(f"VideoWriter: {exc}") from None
        self.fragmented = bool(fragmented)
        self.rotation = int(rotation)  # degrees of the display matrix written (0: none)
        self.frames_written = 0
        self._container: av.container.OutputContainer | None = None
        self._stream: av.VideoStream | None = None
        self._closed = False
        self._failed = False  # a write failed (disk full...): close() only releases
        self._clock = MonotonicPts(step=frame_step(self.fps, self.time_base), what=str(path))
        self._pad = self._pad_buffer()
        self._converter: I420Converter | None = None  # made at the first frame

    @property
    def output_size(self) -> tuple[int, int]:
        """``(width, height)`` of the encoded video: the frame size rounded up to even."""
        return _even(self.width), _even(self.height)

    def open(self) -> None:
        """Check the destination and write the header; raises OutputError. Idempotent.

        An existing file at ``path`` is replaced.
        """
        if self._container is not None:
            return
        if self._closed:
            raise OutputError(f"{self.path}: the writer is closed")
        check_writable(self.path, "video output")
        self._container, self._stream = self._create(fragmented=self.fragmented)
        log.debug("writing %s: %dx%d at %s fps, %s, preset %s, crf %d, %d threads",
                  self.path, *self.output_size, self.fps, self.codec, self.preset, self.crf,
                  self.threads)  # fmt: skip

    def write(self, image: np.ndarray, pts: int | None = None) -> None:
        """Encode one HxWx3 uint8 BGR frame; ``pts`` in ``time_base`` (None: next at fps)."""
        self.open()
        container, stream = self._container, self._stream
        assert container is not None and stream is not None  # open() succeeded
        frame = self._to_frame(image)
        frame.pts = self._clock.next(self._auto_pts() if pts is None else int(pts))
        frame.time_base = self.time_base
        self._encode(container, stream, frame)
        self.frames_written += 1

    def close(self) -> None:
        """Flush the encoder and finalise the file; safe to call more than once."""
        container, stream = self._container, self._stream
        self._container, self._stream, self._closed = None, None, True
        if container is None or stream is None:
            return
        if self._failed:  # the write error was reported: finish what can be, quietly
            with contextlib.suppress(Exception):
                self._encode(container, stream, None)
            with contextlib.suppress(Exception):
                self._close_container(container)
            return
        try:
            self._encode(container, stream, None)
        except OutputError:
            with contextlib.suppress(Exception):
                container.close()
            raise
        self._close_container(container)
        if self.frames_written == 0 and self._is_mov() and not self.fragmented:
            self._write_empty()
        log.debug("closed %s: %d frames", self.path, self.frames_written)


    # -- internals ---------------------------------------------------------------------

    def _create(self, *, fragmented: bool) -> tuple[av.container.OutputContainer, av.VideoStream]:
        options = _FRAGMENT_OPTIONS if fragmented and self._is_mov() else {}
        try:
            container = av.open(str(self.path), "w", container_options=dict(options))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            reason = describe_error(exc)
            raise OutputError(f"{self.path}: cannot create the file ({reason})") from exc
        try:
            stream = self._add_stream(container)
            container.start_encoding()
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            with contextlib.suppress(Exception):
                container.close()
            msg = f"{self.path}: cannot start the {self.codec} encoder"
            raise OutputError(f"{msg} ({describe_error(exc)})") from exc
        return container, stream

    def _add_stream(self, container: av.container.OutputContainer) -> av.VideoStream:
        stream = cast(av.VideoStream, container.add_stream(self.codec, rate=self.fps))
        stream.width, stream.height = self.output_size
        stream.pix_fmt = "yuv420p"
        stream.time_base = self.time_base
        ctx = stream.codec_context
        ctx.time_base = self.time_base
        ctx.thread_count = self.threads
        ctx.colorspace, ctx.color_range = self.colour.colorspace, LIMITED_RANGE
        ctx.color_primaries, ctx.color_trc = self.colour.primaries, self.colour.transfer
        if self.codec in _X264_LIKE:
            stream.options = {"crf": str(self.crf), "preset": self.preset}
        if self.rotation:
            stream.set_display_rotation(self.rotation)
        return stream

    def _is_mov(self) -> bool:
        return self.path.suffix.lower() in _MOV_SUFFIXES

    def _auto_pts(self) -> int:
        return round(Fraction(self.frames_written) / (self.fps * self.time_base))

    def _pad_buffer(self) -> np.ndarray | None:
        if (self.width, self.height) == self.output_size:
            return None
        return np.empty((self.output_size[1], self.output_size[0], 3), np.uint8)

    def _to_frame(self, image: np.ndarray) -> av.VideoFrame:
        expected = (self.height, self.width, 3)
        if image.shape != expected or image.dtype != np.uint8:
            raise ValueError(f"{self.path}: frame is {image.shape} {image.dtype}, "
                             f"expected {expected} uint8 (BGR)")  # fmt: skip
        if self._pad is not None:
            image = _padded(self._pad, image)
        if self._converter is None:
            self._converter = I420Converter(*self.output_size, self.colour)
        image = np.ascontiguousarray(image)
        frame = av.VideoFrame(*self.output_size, "yuv420p")
        planes = [_plane_array(plane) for plane in frame.planes]
        if all(p is not None for p in planes):  # straight into the frame's buffers
            self._converter.convert_into(image, cast(list[np.ndarray], planes))
        else:
            frame = av.VideoFrame.from_ndarray(self._converter.convert(image), format="yuv420p")
        frame.colorspace, frame.color_range = self.colour.colorspace, LIMITED_RANGE
        return frame

    def _encode(
        self,
        container: av.container.OutputContainer,
        stream: av.VideoStream,
        frame: av.VideoFrame | None,
    ) -> None:
        """Encode ``frame`` (None: flush the encoder) and mux what comes out."""
        try:
            container.mux(stream.encode(frame))
        except (av.error.FFmpegError, OSError, ValueError) as exc:
            self._failed = True
            what = "flushing the encoder" if frame is None else f"frame {self.frames_written}"
            reason = describe_error(exc)
            raise OutputError(f"video output {self.path}: cannot write ({reason}) at {what}"
                              ) from exc

    def _close_container(self, container: av.container.OutputContainer) -> None:
        try:
            container.close()
        except (av.error.FFmpegError, OSError) as exc:
            self._failed = True
            reason = describe_error(exc)
            raise OutputError(f"video output {self.path}: cannot finalise the file ({reason})"
                              ) from exc

    def _write_empty(self) -> None:
        """Rewrite a frameless file as an empty fragmented MP4, which keeps its video track
        (a plain MP4 muxer drops tracks without samples)."""
        container, stream = self._create(fragmented=True)
        try:
            self._encode(container, stream, None)
        finally:
            self._close_container(container)


def _plane_array(plane: av.video.plane.VideoPlane) -> np.ndarray | None:
    """A frame plane's buffer as a writable (height, width) array, or None when its rows
    are padded (then the frame is filled by copying)."""
    if plane.line_size != plane.width:
        return None
    array: np.ndarray = np.frombuffer(memoryview(plane), np.uint8)
    if not array.flags.writeable or array.size < plane.width * plane.height:
        return None
    rows: np.ndarray = array[: plane.width * plane.height].reshape(plane.height, plane.width)
    return rows


def _padded(pad: np.ndarray, image: np.ndarray) -> np.ndarray:
    """``image`` copied into ``pad`` with its last column/row repeated up to pad's size."""
    h, w = image.shape[:2]
    pad[:h, :w] = image
    pad[h:, :w] = image[h - 1 :]
    pad[:, w:] = pad[:, w - 1 : w]
    return pad
