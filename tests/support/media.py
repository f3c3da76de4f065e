"""Tiny videos, audio files and images written with PyAV/OpenCV alone (sources, decode,
encoder), and reading them back."""

from __future__ import annotations

from collections.abc import Callable
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from streampose.sources import Frame, SourceInfo, VideoFileSource


def make_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64),
               fps: int = 10) -> Path:
    """A tiny H.264 clip with a bright square moving across a dark background."""
    return make_square_video(path, size=size, frames=frames, x_of=lambda i: 8 + 4 * i,
                             y=20, fps=fps)


def make_square_video(path: Path, *, size: tuple[int, int], frames: int,
                      x_of: Callable[[int], int | None], y: int = 40, side: int = 8,
                      fps: int = 10) -> Path:
    """A dark H.264 clip (grey 20) with a bright ``side``-pixel square (250) at row ``y``
    and column ``x_of(frame)`` (None: no square on that frame)."""
    width, height = size
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        for i in range(frames):
            image = np.full((height, width, 3), 20, np.uint8)
            x = x_of(i)
            if x is not None:
                image[y:y + side, x:x + side] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


W, H = 32, 24
TOLERANCE = 6  # mean absolute difference after a lossy yuv420p round trip


def pattern(i: int, width: int = W, height: int = H) -> np.ndarray:
    """Frame ``i``: flat colours that change with the index (blue up, red down)."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 20 + 20 * (i % 11)
    image[..., 1] = 128
    image[..., 2] = 235 - 20 * (i % 11)
    return image


def make_pattern_video(
    path: Path, frames: int, *, codec: str = "libx264", fps: int = 10, width: int = W
) -> Path:
    """A tiny video written with PyAV alone (independent of VideoWriter)."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, H, "yuv420p"
        for i in range(frames):
            frame = av.VideoFrame.from_ndarray(pattern(i, width), format="bgr24")
            frame.pts = i
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def make_audio(path: Path, codec: str) -> Path:
    """An audio-only file: a few frames of silence."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=48000)
        samples = stream.codec_context.frame_size or 1152
        for i in range(4):
            frame = av.AudioFrame(format=stream.format.name, layout="mono", samples=samples)
            for plane in frame.planes:
                plane.update(bytes(plane.buffer_size))
            frame.sample_rate, frame.pts = 48000, i * samples
            container.mux(stream.encode(frame))
        container.mux(stream.encode(None))
    return path


def read_all(path: Path) -> tuple[SourceInfo, list[Frame]]:
    """Info and every frame of a video file (closed afterwards)."""
    with VideoFileSource(path=path) as source:
        return source.info, list(source.frames())


def assert_close(image: np.ndarray, expected: np.ndarray) -> None:
    assert image.shape == expected.shape
    assert np.abs(image.astype(int) - expected).mean() <= TOLERANCE


def write_image(path: Path, value: int, size: tuple[int, int] = (W, H)) -> None:
    """A flat image of ``value`` at ``path`` (any format OpenCV writes)."""
    import cv2

    assert cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))


def square_frame(size: tuple[int, int], centre: tuple[float, float],
                 side: int) -> np.ndarray:
    """A dark ``size`` (width, height) frame with a bright ``side``-pixel square centred
    at ``centre`` (fractions of the width and height): where the fake backend puts its
    person."""
    width, height = size
    image = np.full((height, width, 3), 20, np.uint8)
    x, y = round(centre[0] * width - side / 2), round(centre[1] * height - side / 2)
    image[y:y + side, x:x + side] = 250
    return image


def make_resizing_ts(path: Path, sizes: list[tuple[int, int]], frames_each: int, *,
                     centre: tuple[float, float] = (0.5, 0.5), fps: int = 10) -> Path:
    """An H.264 MPEG-TS whose resolution changes: ``frames_each`` frames at each of
    ``sizes`` in turn (one encoder per size, the parts joined as a broadcast splices
    them), each frame :func:`square_frame` (side 1/8 of its height) at ``centre``;
    timestamps keep increasing across the changes."""
    data = bytearray()
    for part, size in enumerate(sizes):
        piece = path.with_name(f"{path.stem}.part{part}.ts")
        with av.open(str(piece), "w", format="mpegts") as container:
            stream = container.add_stream("libx264", rate=fps)
            stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
            for i in range(frames_each):
                image = square_frame(size, centre, max(4, size[1] // 8))
                frame = av.VideoFrame.from_ndarray(image, format="bgr24")
                frame.pts = part * frames_each + i
                frame.time_base = Fraction(1, fps)
                container.mux(stream.encode(frame))
            container.mux(stream.encode(None))
        data += piece.read_bytes()
        piece.unlink()
    path.write_bytes(bytes(data))
    return path


def make_rotated_video(path: Path, upright: list[np.ndarray], rotation: int,
                       fps: int = 10) -> Path:
    """An H.264 MP4 whose pictures are ``upright`` stored turned by ``-rotation`` degrees
    (counter-clockwise), with a display matrix of ``rotation`` that turns them back, as
    phones write them; ``rotation`` 0 writes them as they are, with no display matrix."""
    k = -(rotation // 90)
    stored = [np.ascontiguousarray(np.rot90(image, k)) for image in upright]
    height, width = stored[0].shape[:2]
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
        if rotation:
            stream.set_display_rotation(rotation)
        for image in stored:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path
