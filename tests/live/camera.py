"""Fake live RTSP cameras for tests: a managed ``rtsp_server.py`` process, plus fixtures.

The server runs under Debian's system Python (``/usr/bin/python3`` with GStreamer's
gst-rtsp-server through ``gi``), not the project's virtualenv; this module only needs the
standard library and pytest. Use the fixtures from another test file by binding them in
its namespace (an assignment, not an import, so that linters do not flag the arguments)::

    from tests.live import camera as live

    camera = live.camera            # vtest.mp4 looping at 10 fps, already started
    make_camera = live.make_camera  # make_camera(file=..., fps=..., port=...) -> started

    def test_reads_live(camera):
        ...av.open(camera.url, options={"rtsp_transport": "tcp"}, timeout=(5, 5))...

    def test_reconnects(make_camera, tmp_path):
        cam = make_camera(some_clip)   # stopped after the test, whatever happens
        cam.kill()
        cam.restart()                  # same port, same URL

Tests using them skip, with the reason, when the GStreamer RTSP stack is missing
(``.ci/apt-live.sh`` installs it) or ``../shared/media/vtest.mp4`` is absent.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import os
import selectors
import signal
import subprocess
import tempfile
import time
import weakref
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.support.ports import free_port as free_port  # the tests' port helper, here too

SYSTEM_PYTHON = Path("/usr/bin/python3")
START_S = 60.0  # deadline for a server to be ready (generous: the machine may be loaded)
SERVER_SCRIPT = Path(__file__).resolve().with_name("rtsp_server.py")
SHARED = Path(__file__).resolve().parents[2].parent / "shared"
VTEST = SHARED / "media" / "vtest.mp4"

# The GStreamer elements rtsp_server.py uses (coreelements, parsebin and appsrc/appsink
# from -base, qtdemux and rtph264pay from -good, h264parse from -bad).
NEEDED_ELEMENTS = ("filesrc", "parsebin", "qtdemux", "h264parse", "appsrc", "appsink", "rtph264pay")

_PROBE = """
import gi
gi.require_version("Gst", "1.0")
gi.require_version("GstRtsp", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import Gst, GstRtsp, GstRtspServer
Gst.init(None)
print(" ".join(e for e in {elements!r} if Gst.ElementFactory.find(e) is None))
"""

_live: weakref.WeakSet[RtspCamera] = weakref.WeakSet()


@functools.lru_cache(maxsize=1)
def rtsp_available() -> str | None:
    """None when the RTSP test server can run here, else why not (for ``pytest.skip``)."""
    if not SYSTEM_PYTHON.exists():
        return f"{SYSTEM_PYTHON} not found (the RTSP test server needs Debian's python3-gi)"
    try:
        probe = subprocess.run(
            [str(SYSTEM_PYTHON), "-c", _PROBE.format(elements=NEEDED_ELEMENTS)],
            capture_output=True,
            text=True,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        return f"cannot run {SYSTEM_PYTHON}: {exc}"
    if probe.returncode != 0:
        lines = probe.stderr.strip().splitlines()
        why = lines[-1] if lines else f"exit status {probe.returncode}"
        return (
            f"GStreamer RTSP server not importable by {SYSTEM_PYTHON} ({why}); "
            "install it with .ci/apt-live.sh"
        )
    missing = probe.stdout.split()
    if missing:
        return f"GStreamer elements missing: {', '.join(missing)} (.ci/apt-live.sh installs them)"
    return None


class RtspCamera:
    """A fake live camera: ``rtsp_server.py`` looping ``file`` at ``fps``, as a process.

    ``port=None`` lets the server pick a free loopback port on the first :meth:`start`
    (no race with other processes); later starts reuse it, like a camera with a fixed
    address. ``url`` is known once started (or from the beginning when ``port`` is given).
    """

    def __init__(
        self, *, file: Path, port: int | None = None, mount: str = "/cam0", fps: int = 10
    ) -> None:
        if not mount.startswith("/"):
            raise ValueError(f"mount must start with '/': {mount!r}")
        self.file = Path(file)
        self.port = port
        self.mount = mount
        self.fps = fps
        self.proc: subprocess.Popen[bytes] | None = None
        self.paused = False
        self.starts = 0
        # The server's stderr, across restarts, for error messages and debugging.
        self._log = tempfile.TemporaryFile(prefix="rtsp_server-", suffix=".log")  # noqa: SIM115
        _live.add(self)

    # -- state -------------------------------------------------------------------------

    @property
    def url(self) -> str:
        if self.port is None:
            raise RuntimeError("the camera's port is picked on start(); start it first")
        return f"rtsp://127.0.0.1:{self.port}{self.mount}"

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def running(self) -> bool:
        """Whether the server process exists (a paused one counts as running)."""
        return self.proc is not None and self.proc.poll() is None

    def log(self) -> str:
        """Everything the server wrote on stderr so far (all starts)."""
        self._log.flush()
        self._log.seek(0)
        return self._log.read().decode(errors="replace")

    def __repr__(self) -> str:
        state = "paused" if self.paused else "running" if self.running() else "stopped"
        return f"RtspCamera({self.file.name!r}, port={self.port}, {state})"

    # -- control -----------------------------------------------------------------------

    def start(self, timeout: float = START_S) -> None:
        """Launch the server and wait for its READY line (raises with its stderr if none)."""
        if self.running():
            raise RuntimeError(f"{self!r} is already running")
        if not self.file.is_file():
            raise FileNotFoundError(self.file)
        cmd = [
            str(SYSTEM_PYTHON),
            "-u",
            str(SERVER_SCRIPT),
            "--port",
            str(self.port if self.port is not None else 0),
            "--mount",
            self.mount,
            "--file",
            str(self.file),
            "--fps",
            str(self.fps),
            "--watch-parent",
            # A restart on the same port may find it briefly busy: retry for a while.
            "--bind-timeout",
            str(max(1.0, timeout - 5.0)),
        ]
        self._log.seek(0, os.SEEK_END)
        self.proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=self._log,
            # Its own session: a Ctrl-C in the terminal reaches pytest, which then stops
            # the server itself (and --watch-parent covers a pytest that dies).
            start_new_session=True,
        )
        self.paused = False
        self.starts += 1
        try:
            url = self._wait_ready(timeout)
        except BaseException:
            self._terminate(signal.SIGKILL)
            raise
        port = int(url.rsplit(":", 1)[1].split("/", 1)[0])
        if self.port is None:
            self.port = port
        elif port != self.port:  # cannot happen: we asked for this port
            self._terminate(signal.SIGKILL)
            raise RuntimeError(f"server listens on {port}, not {self.port}")

    def _wait_ready(self, timeout: float) -> str:
        assert self.proc is not None and self.proc.stdout is not None
        deadline = time.monotonic() + timeout
        buf = b""
        with selectors.DefaultSelector() as sel:
            sel.register(self.proc.stdout, selectors.EVENT_READ)
            while True:
                left = deadline - time.monotonic()
                if left <= 0:
                    raise RuntimeError(
                        f"RTSP server not ready after {timeout:g} s; its stderr:\n{self.log()}"
                    )
                if sel.select(min(left, 0.2)):
                    chunk = os.read(self.proc.stdout.fileno(), 4096)
                    if not chunk:  # stdout closed: the server exited
                        rc = self.proc.wait(timeout=5)
                        raise RuntimeError(
                            f"RTSP server exited (status {rc}) before READY; its stderr:\n"
                            f"{self.log()}"
                        )
                    buf += chunk
                    *lines, buf = buf.split(b"\n")  # keep a partial last line for later
                    for line in lines:
                        if line.startswith(b"READY "):
                            return line.decode().split(None, 1)[1].strip()

    def _terminate(self, sig: signal.Signals, wait: float = 60.0) -> int | None:
        proc = self.proc
        if proc is None:
            return None
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(proc.pid, sig)
                if sig != signal.SIGKILL:
                    os.kill(proc.pid, signal.SIGCONT)  # a stopped process must run to exit
            try:
                proc.wait(timeout=wait)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=5)
        if proc.stdout is not None:
            proc.stdout.close()
        self.paused = False
        return proc.returncode

    def kill(self) -> None:
        """SIGKILL: the camera dies on the spot (clients see the connection drop)."""
        self._terminate(signal.SIGKILL)

    def stop(self) -> None:
        """SIGTERM and wait: an orderly shutdown (SIGKILL if it does not exit in 60 s)."""
        self._terminate(signal.SIGTERM)

    def pause(self) -> None:
        """SIGSTOP: the camera freezes; connections stay open but nothing arrives."""
        if not self.running():
            raise RuntimeError(f"{self!r} is not running")
        os.kill(self.proc.pid, signal.SIGSTOP)
        self.paused = True

    def resume(self) -> None:
        """SIGCONT: the camera goes on (it resumes at the file's next IDR, no burst)."""
        if not self.running():
            raise RuntimeError(f"{self!r} is not running")
        os.kill(self.proc.pid, signal.SIGCONT)
        self.paused = False

    def restart(self, timeout: float = START_S) -> None:
        """Start again on the same port (a rebooting camera); stops it first if running."""
        if self.running():
            self.stop()
        self.start(timeout)

    def close(self) -> None:
        """Stop the server if it runs; safe to call more than once."""
        if self.running():
            self._terminate(signal.SIGTERM, wait=5.0)
        elif self.proc is not None and self.proc.stdout is not None:
            self.proc.stdout.close()
        _live.discard(self)

    def __enter__(self) -> RtspCamera:
        if not self.running():
            self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        with contextlib.suppress(Exception):
            if self.running():
                self._terminate(signal.SIGKILL, wait=2.0)


@atexit.register
def _kill_leftovers() -> None:
    for cam in list(_live):
        with contextlib.suppress(Exception):
            cam._terminate(signal.SIGKILL, wait=2.0)


# -- pytest fixtures -------------------------------------------------------------------


def require_rtsp() -> None:
    """Skip the calling test when the RTSP test server cannot run here."""
    reason = rtsp_available()
    if reason is not None:
        pytest.skip(reason)


def require_vtest() -> Path:
    """``../shared/media/vtest.mp4``, or skip the calling test."""
    if not VTEST.is_file():
        pytest.skip(f"needs {VTEST} (the shared data folder beside the checkout)")
    return VTEST


@pytest.fixture
def make_camera() -> Iterator[Callable[..., RtspCamera]]:
    """Factory of started cameras: ``make_camera(file=None, port=None, mount="/cam0",
    fps=10, start=True)``; ``file=None`` means vtest.mp4. All are stopped after the test."""
    require_rtsp()
    cameras: list[RtspCamera] = []

    def factory(
        file: Path | None = None,
        *,
        port: int | None = None,
        mount: str = "/cam0",
        fps: int = 10,
        start: bool = True,
    ) -> RtspCamera:
        cam = RtspCamera(
            file=file if file is not None else require_vtest(), port=port, mount=mount, fps=fps
        )
        cameras.append(cam)
        if start:
            cam.start()
        return cam

    try:
        yield factory
    finally:
        for cam in cameras:
            cam.close()


@pytest.fixture
def camera(make_camera: Callable[..., RtspCamera]) -> RtspCamera:
    """A started camera looping vtest.mp4 (480x360) at 10 fps."""
    return make_camera()
