"""Damaged media (faults tests): a realistic clip, and copies of it flipped, truncated or
with packets zeroed; a plain PyAV decode to compare against."""

from __future__ import annotations

from pathlib import Path

import av
import av.error
import numpy as np


def make_textured_video(path: Path, frames: int = 60, size: tuple[int, int] = (160, 120),
                        fps: int = 10, gop: int = 10) -> Path:
    """An H.264 MP4 with its index first (``faststart``: a truncated copy still opens),
    noisy frames (packets of a realistic size) and a keyframe every ``gop`` frames."""
    rng = np.random.default_rng(7)
    with av.open(str(path), "w", container_options={"movflags": "faststart"}) as container:
        stream = container.add_stream("libx264", rate=fps,
                                      options={"g": str(gop), "preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            image = rng.integers(0, 256, (size[1], size[0], 3), np.uint8)
            image[20:40, 4 * i % size[0]:4 * i % size[0] + 20] = 250
            container.mux(stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")))
        container.mux(stream.encode(None))
    return path


def flip_bytes(src: Path, dst: Path, at: tuple[float, ...] = (0.4, 0.5, 0.6),
               length: int = 4000) -> Path:
    """``src`` copied to ``dst`` with ``length`` bytes inverted at each fraction ``at``."""
    data = bytearray(src.read_bytes())
    for fraction in at:
        start = int(len(data) * fraction)
        data[start:start + length] = bytes(255 - b for b in data[start:start + length])
    dst.write_bytes(bytes(data))
    return dst


def truncate_copy(src: Path, dst: Path, fraction: float) -> Path:
    """The first ``fraction`` of ``src``'s bytes, as ``dst``."""
    data = src.read_bytes()
    dst.write_bytes(data[:int(len(data) * fraction)])
    return dst


def zero_packets(src: Path, dst: Path, first: int, count: int) -> Path:
    """``src`` copied to ``dst`` with the bytes of video packets ``first``.. (``count`` of
    them, in file order) zeroed: a run of packets holding nothing."""
    data = bytearray(src.read_bytes())
    with av.open(str(src)) as container:
        packets = [p for p in container.demux(video=0) if p.size]
        for packet in packets[first:first + count]:
            data[packet.pos:packet.pos + packet.size] = bytes(packet.size)
    dst.write_bytes(bytes(data))
    return dst


def plain_decode(path: Path, thread_type: str = "SLICE") -> int:
    """Frames a plain PyAV loop gets from ``path``, skipping the packets that fail."""
    count = 0
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        stream.thread_type = thread_type
        for packet in container.demux(stream):
            try:
                count += len(stream.decode(packet))
            except av.error.FFmpegError:
                continue
    return count
