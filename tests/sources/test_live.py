"""streampose.sources.live: LiveSource is a Source; here over HTTP from a loopback server.

(The RTSP cases, with reconnects and stalls, are in tests/live/.)
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import av
import numpy as np
import pytest

from streampose.config.sections import LiveConfig
from streampose.sources import LIVE_TIME_BASE, Frame, LiveSource
from tests.support.media import H, W, pattern

FRAMES = 8


class _Quiet(SimpleHTTPRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def stream_url(tmp_path: Path) -> Iterator[str]:
    """``http://127.0.0.1:PORT/clip.ts``: an MPEG-TS clip served over HTTP (a live source)."""
    with av.open(str(tmp_path / "clip.ts"), "w") as container:
        stream = container.add_stream("mpeg2video", rate=10)
        stream.width, stream.height, stream.pix_fmt = W, H, "yuv420p"
        for i in range(FRAMES):
            container.mux(stream.encode(av.VideoFrame.from_ndarray(pattern(i), format="bgr24")))
        container.mux(stream.encode(None))
    handler = functools.partial(_Quiet, directory=str(tmp_path))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/clip.ts"
    server.shutdown()
    server.server_close()


def test_live_source_is_a_resource_yielding_frames(stream_url: str) -> None:
    before = time.time()
    with LiveSource(uri=stream_url, config=LiveConfig(open_timeout_s=5)) as source:
        info = source.info
        frames = list(source.frames())  # an HTTP clip ends: for a camera, a disconnect
    assert (info.width, info.height, info.live, info.frames) == (W, H, True, None)
    assert info.time_base == LIVE_TIME_BASE and info.uri == stream_url
    assert len(frames) == FRAMES and all(isinstance(f, Frame) for f in frames)
    assert [f.index for f in frames] == list(range(FRAMES))
    assert all(f.image.shape == (H, W, 3) and f.image.flags.c_contiguous for f in frames)
    walls = [f.wall for f in frames]
    assert all(w is not None and before <= w for w in walls) and walls == sorted(walls)
    pts = [f.pts for f in frames]
    # Strictly increasing although a clip decodes several frames per millisecond: each is
    # its wall-clock time since the first open, or the previous one's + 1 ms.
    assert all(b > a for a, b in itertools.pairwise(pts)) and pts[0] >= 0
    assert frames[0].pts == round((frames[0].wall - source.epoch) * 1000)
    assert all(f.pts >= round((f.wall - source.epoch) * 1000) for f in frames)


def test_a_burst_in_one_millisecond_still_gets_increasing_timestamps(
        stream_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    # What a loaded machine does with a buffered burst: every frame in the same ms.
    monkeypatch.setattr("streampose.sources.live.time.time", lambda: 1000.0)
    with LiveSource(uri=stream_url) as source:
        pts = [f.pts for f in source.frames()]
    assert pts == list(range(FRAMES))


def test_reopening_keeps_the_clock(stream_url: str) -> None:
    source = LiveSource(uri=stream_url)
    first = list(source.frames())  # opens on demand
    epoch = source.epoch
    source.close()
    source.close()
    again = list(source.frames())
    source.close()
    assert source.epoch == epoch and again[0].pts > first[-1].pts
    assert np.abs(again[0].image.astype(int) - pattern(0)).mean() < 8
