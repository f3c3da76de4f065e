"""End to end: a viewer that connects, asks for both cameras and never reads does not
change what the pipeline writes, and does not keep the run from ending cleanly."""

from __future__ import annotations

import base64
import json
import socket
import subprocess
import sys
from pathlib import Path

import pytest

from tests.live.camera import free_port
from tests.support.media import make_video
from tests.support.models import MODEL_NAME
from tests.support.shm import shm_segments
from tests.support.waiting import wait_until

pytestmark = [pytest.mark.slow]

WAIT_S = 120.0
FRAMES = 150


def _stuck_viewer(port: int) -> socket.socket | None:
    """Open /api/live, watch cameras 0 and 1, and never read; None while not up yet."""
    try:
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
    except OSError:
        return None
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    key = base64.b64encode(b"stuck-viewer-key").decode()
    sock.sendall((f"GET /api/live HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n"
                  f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
                  "Sec-WebSocket-Version: 13\r\n\r\n").encode())
    payload = json.dumps({"watch": [0, 1]}).encode()
    mask = b"\x05\x06\x07\x08"
    sock.sendall(bytes([0x81, 0x80 | len(payload)]) + mask
                 + bytes(b ^ mask[i % 4] for i, b in enumerate(payload)))
    return sock


def test_a_viewer_that_never_reads(tmp_path: Path) -> None:
    clips = [make_video(tmp_path / f"{n}.mp4", frames=FRAMES, size=(320, 240)) for n in "ab"]
    port, summary = free_port(), tmp_path / "s.json"
    proc = subprocess.Popen(
        [sys.executable, "-m", "streampose", "run", *map(str, clips), "--model",
         str(MODEL_NAME), "--backend", "fake", "--backend-option", "delay_ms=20",
         "--serve", str(port), "--summary", str(summary), "--json", str(tmp_path / "o.jsonl"),
         "--no-progress"], stderr=subprocess.PIPE, text=True)
    sock = wait_until(lambda: _stuck_viewer(port) if proc.poll() is None else "ended",
                      timeout=WAIT_S, what="the console up")
    try:
        _, stderr = proc.communicate(timeout=WAIT_S * 3)
    finally:
        if isinstance(sock, socket.socket):
            sock.close()
    assert sock != "ended", "the run ended before the viewer connected"
    assert proc.returncode == 0, stderr
    streams = json.loads(summary.read_text())["streams"]
    assert [s["frames_out"] for s in streams] == [FRAMES, FRAMES]
    assert [s["dropped"] for s in streams] == [0, 0]
    lines = (tmp_path / "o.jsonl").read_text().splitlines()
    assert len(lines) == 2 * FRAMES
    assert shm_segments(proc.pid) == []
