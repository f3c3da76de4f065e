"""Tiny generated videos and images for the source and writer tests (not a test module)."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np

from streampose.sources import Frame, SourceInfo, VideoFileSource

SHARED = Path(__file__).resolve().parents[1].parent / "shared"
W, H = 32, 24
TOLERANCE = 6  # mean absolute difference after a lossy yuv420p round trip


def pattern(i: int, width: int = W, height: int = H) -> np.ndarray:
    """Frame ``i``: flat colours that change with the index (blue up, red down)."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = 20 + 20 * (i % 11)
    image[..., 1] = 128
    image[..., 2] = 235 - 20 * (i % 11)
    return image


def make_video(
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


def shared_path(relative: str) -> Path:
    """A file of the ../shared checkout, or skip the calling test when it is absent."""
    import pytest

    if not SHARED.is_dir():
        pytest.skip(f"shared test data not found at {SHARED} (needs the ../shared checkout)")
    return SHARED / relative


def write_image(path: Path, value: int, size: tuple[int, int] = (W, H)) -> None:
    """A flat image of ``value`` at ``path`` (any format OpenCV writes)."""
    import cv2

    assert cv2.imwrite(str(path), np.full((size[1], size[0], 3), value, np.uint8))
