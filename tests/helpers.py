"""Shared test factories: the ../shared data folder, tiny videos, the command line in a
subprocess, a minimal model spec, the PAF head and the processing strategies built on it,
a misbehaving local HTTP server, shared-memory checks.

Test modules import their helpers from here and their fixtures from conftest.py; no test
module imports another test module.
"""

from __future__ import annotations

import hashlib
import os
import random
import socket
import struct
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import av.error
import numpy as np
import pytest

from streampose.sources import Frame, SourceInfo, VideoFileSource

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"  # the shared data folder beside the checkout
MODEL_NAME = Path("openpose-mnv2s-coco18.onnx")  # the fake backend only needs its spec
SHM = Path("/dev/shm")


# --- data and processes -----------------------------------------------------------------

def shared_file(relative: str) -> Path:
    """Path of a file in ../shared, or skip the test with the reason."""
    path = SHARED / relative
    if not path.exists():
        pytest.skip(f"needs ../shared/{relative} (the shared data folder beside the checkout)")
    return path


def shm_segments(pid: int | None = None) -> list[str]:
    """Names of the shared-memory segments of process ``pid`` (default: this one), sorted."""
    prefix = f"sp-{os.getpid() if pid is None else pid}-"
    return sorted(name for name in os.listdir(SHM) if name.startswith(prefix))


def run_cli(*args: str, timeout: float = 180,
            cwd: str | Path | None = None) -> subprocess.CompletedProcess[str]:
    """``python -m streampose ARGS`` in a subprocess, output captured as text."""
    return subprocess.run([sys.executable, "-m", "streampose", *args], capture_output=True,
                          text=True, timeout=timeout, cwd=cwd)


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str,
               poll_s: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something true, and return that; fail the test
    naming ``what`` after ``timeout`` seconds (a deadline, not a speed requirement)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)


# --- media and models -------------------------------------------------------------------

def make_video(path: Path, frames: int = 12, size: tuple[int, int] = (96, 64),
               fps: int = 10) -> Path:
    """A tiny H.264 clip with a bright square moving across a dark background."""
    with av.open(str(path), "w") as container:
        stream = container.add_stream("libx264", rate=fps)
        stream.width, stream.height, stream.pix_fmt = size[0], size[1], "yuv420p"
        for i in range(frames):
            image = np.full((size[1], size[0], 3), 20, np.uint8)
            x = 8 + 4 * i
            image[20:28, x:x + 8] = 250
            for packet in stream.encode(av.VideoFrame.from_ndarray(image, format="bgr24")):
                container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)
    return path


def paf_head(spec: Any, thresholds: Any = None, *, on_device: bool = False) -> Any:
    """The PAF head of ``spec`` (a ModelSpec) with decoder ``thresholds`` (default ones);
    ``on_device``: peaks found where the outputs are (what device processing sets)."""
    from streampose.config.sections import DecoderThresholds
    from streampose.heads import HeadSettings, make_head

    head = make_head(spec, HeadSettings(paf=thresholds or DecoderThresholds()))
    head.on_device = on_device
    return head


def host_processing(spec: Any, thresholds: Any = None) -> Any:
    """HostProcessing of ``spec`` with its PAF head."""
    from streampose.processing import HostProcessing

    return HostProcessing(spec=spec, head=paf_head(spec, thresholds))


def device_processing(spec: Any, thresholds: Any = None) -> Any:
    """DeviceProcessing of ``spec`` with its PAF head finding the peaks on the device (as
    ``choose_processing`` sets it up)."""
    from streampose.processing.device import DeviceProcessing

    return DeviceProcessing(spec=spec, head=paf_head(spec, thresholds, on_device=True))


def paf_maps(spec: Any, outputs: dict[str, Any]) -> tuple[np.ndarray, np.ndarray]:
    """``(heatmaps, pafs)``, float32 NCHW, that the PAF head of ``spec`` reads from a
    backend's raw ``outputs`` (one host payload per image, stacked)."""
    payloads = paf_head(spec).payloads(outputs, len(next(iter(outputs.values()))))
    return (np.stack([p.heatmaps for p in payloads]), np.stack([p.pafs for p in payloads]))


def valid_spec_dict() -> dict[str, Any]:
    """The smallest valid model-spec dict (``ModelSpec.from_dict``): a COCO18 NHWC net."""
    return {
        "name": "net",
        "skeleton": "coco18",
        "input_name": "image:0",
        "input_layout": "NHWC",
        "output_layout": "NHWC",
        "color": "BGR",
        "stride": 8,
        "heatmaps": {"output": "out", "channels": [0, 19]},
        "pafs": {"output": "out", "channels": [19, 57]},
    }


# --- a local HTTP server for downloads --------------------------------------------------

PAYLOAD = random.Random(1234).randbytes(1 << 20)
PAYLOAD_SHA256 = hashlib.sha256(PAYLOAD).hexdigest()
WRONG_SHA256 = hashlib.sha256(b"something else").hexdigest()
STALL_LIMIT_S = 5.0  # the ``stall`` route gives up after this long


@dataclass
class LocalServer:
    """A ThreadingHTTPServer on 127.0.0.1 in a thread, serving ``files`` under routes that
    misbehave on purpose:

    - ``/files/<name>``: the whole file, with its Content-Length;
    - ``/truncated/<name>``: announces the full length, sends half, then closes;
    - ``/reset/<name>``: sends half, then resets the connection;
    - ``/stall/<name>``: sends the headers and a few bytes, then stalls;
    - anything else: 404.
    """

    files: dict[str, bytes] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)
    httpd: ThreadingHTTPServer | None = None

    def url(self, route: str, name: str) -> str:
        assert self.httpd is not None
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/{route}/{name}"


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def do_GET(self) -> None:
        local = self.server.local
        local.requests.append(self.path)
        route, _, name = self.path.strip("/").partition("/")
        body = local.files.get(name)
        if body is None or route not in ("files", "truncated", "reset", "stall"):
            self.send_error(404, "Not Found")
            return
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        getattr(self, f"_send_{route}")(body)

    def _send_files(self, body: bytes) -> None:
        self.wfile.write(body)

    def _send_truncated(self, body: bytes) -> None:
        self.wfile.write(body[: len(body) // 2])
        self.close_connection = True

    def _send_reset(self, body: bytes) -> None:
        self.wfile.write(body[: len(body) // 2])
        self.wfile.flush()
        # Linger 0: close() sends a TCP RST instead of a FIN.
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        self.close_connection = True

    def _send_stall(self, body: bytes) -> None:
        self.wfile.write(body[:100])
        self.wfile.flush()
        self.server.local.release.wait(STALL_LIMIT_S)
        self.close_connection = True

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, local: LocalServer) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.local = local


@contextmanager
def running_server(files: dict[str, bytes]) -> Iterator[LocalServer]:
    """A LocalServer serving ``files`` (name -> content) while the block runs."""
    local = LocalServer(files=files)
    httpd = _Server(local)
    local.httpd = httpd
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05})
    thread.daemon = True
    thread.start()
    try:
        yield local
    finally:
        local.release.set()
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=5)


@contextmanager
def refusing_url() -> Iterator[str]:
    """A URL on a loopback port that refuses connections (bound, never listening)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/files/weights.bin"


def leftovers(folder: Path) -> list[str]:
    """Names of the files in ``folder`` (none expected after a failed download)."""
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


# -- tiny pattern videos and images (sources, decode, encoder) -----------------------

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


# --- damaged media and full disks (faults tests) ----------------------------------------

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


@contextmanager
def full_disk(folder: Path, *, free: int = 0, size: int = 1 << 20) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``folder`` and filled until ``free`` bytes
    are left; unmounted afterwards. Skips the test without root or ``mount``."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (full-disk tests)")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        _fill(folder / ".filler", free)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(filler: Path, free: int) -> None:
    """Write ``filler`` until the file system has about ``free`` bytes left."""
    with open(filler, "wb") as f:
        while True:
            left = os.statvfs(filler.parent).f_bavail * os.statvfs(filler.parent).f_frsize
            if left <= free:
                return
            try:
                f.write(bytes(min(left - free, 1 << 16)))
                f.flush()
            except OSError:
                return


def error_lines(stderr: str) -> list[str]:
    """The lines of ``stderr`` that are not the stages' warnings (the user-facing ones)."""
    return [line for line in stderr.splitlines()
            if line.strip() and " WARNING " not in line and not line.startswith("WARNING")]
