"""One node pipeline per machine: ``streampose run --cameras <node file>`` for the cameras
the controller gives this node.

:class:`NodePipeline` is the body of a Ray actor (made by :mod:`streampose.fleet.cluster`,
pinned to its node) but needs no Ray itself. The controller calls :meth:`apply` with the
node's cameras and the fleet's pipeline settings; the node writes its cameras file
(:func:`write_node_file`, atomically) and

- when only the cameras changed and the pipeline is running: the pipeline re-reads the
  file (it polls the file's modification time; it also gets SIGHUP once it has
  installed its handler), so the other cameras keep running;
- when the settings changed, or the cameras no longer fit in ``--max-streams``: the
  pipeline is restarted;
- with no camera: the pipeline is stopped.

One supervisor thread owns the pipeline's process: it starts it (through
:mod:`streampose.fleet.child`, so the process dies with that thread's process), restarts
it with backoff when it exits on its own, and stops it (SIGTERM, then SIGKILL of its
process group after ``STOP_TIMEOUT_S``). It also fences the node: when the actor's
parent, the node's raylet, is gone (the node is lost to Ray, which will give its cameras
to other nodes), it kills the pipeline's supervisor at once, without a drain.
:meth:`figures` reads each camera's figures from the pipeline's metrics page.
"""

from __future__ import annotations

import contextlib
import functools
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import IO, Any

from streampose.config.cameras_file import Camera, CamerasFile, dump_cameras
from streampose.fleet.figures import read_figures
from streampose.observe.camera_state import FAILING, STARTING

__all__ = ["NodePipeline", "catches_sighup", "write_node_file"]

log = logging.getLogger(__name__)

STOP_TIMEOUT_S = 30.0  # SIGTERM -> SIGKILL of the group
BACKOFF_S = (1.0, 2.0, 4.0, 8.0)  # restarts of a pipeline that exited on its own
TICK_S = 0.2
FAILING_AFTER = 3  # pipeline exits in a row, each soon after its start


def write_node_file(path: Path, cameras: Sequence[Camera], settings: Mapping[str, Any]
                    ) -> None:
    """Write the node's cameras file (the cameras file format, read by ``streampose run
    --cameras``) atomically: the pipeline never reads half a file."""
    text = dump_cameras(CamerasFile(cameras=tuple(cameras), settings=dict(settings)))
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def catches_sighup(pid: int) -> bool:
    """Whether process ``pid`` has a SIGHUP handler (Linux: its ``SigCgt`` mask); before
    it has one, SIGHUP would kill it."""
    try:
        status = Path(f"/proc/{pid}/status").read_text()
    except OSError:
        return False
    for line in status.splitlines():
        if line.startswith("SigCgt:"):
            return bool(int(line.split()[1], 16) >> (signal.SIGHUP - 1) & 1)
    return False


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class NodePipeline:
    """The pipeline of one node. ``node``: its name (MQTT ``node``, the status table);
    ``work_dir``: where its cameras file and the pipeline's log go; ``run_args``: extra
    ``streampose run`` arguments (they override the file)."""

    def __init__(self, node_id: str, node: str, work_dir: str,
                 run_args: Sequence[str] = ()) -> None:
        self.node_id, self.node = node_id, node
        self.work_dir = Path(work_dir)
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.file = self.work_dir / "cameras.toml"
        self.run_args = list(run_args)
        self._lock = threading.Lock()
        self._cameras: tuple[Camera, ...] = ()
        self._settings: dict[str, Any] = {}
        self._max_streams = 0
        self._restart = False
        self._reload = False
        self._stopping = False
        self._proc: subprocess.Popen[bytes] | None = None
        self._started = 0.0
        self._port = 0
        self._failures = 0
        self._next_start = 0.0
        self._starts: dict[str, float] = {}  # camera -> when this node got it
        self.restarts = 0
        self._raylet = os.getppid()  # a Ray worker's parent is its node's raylet
        self._thread = threading.Thread(target=self._supervise, name="node-pipeline",
                                        daemon=True)
        self._thread.start()

    # -- the controller's calls ------------------------------------------------------------

    def ping(self) -> str:
        return self.node_id

    def assigned(self) -> list[str]:
        """The names of the cameras this node runs (the controller rebuilds its view from
        these after a restart)."""
        with self._lock:
            return [c.name for c in self._cameras]

    def apply(self, cameras: Sequence[Camera], settings: Mapping[str, Any],
              max_streams: int) -> None:
        """Run exactly ``cameras`` from now on (see the module's doc)."""
        cameras = tuple(cameras)
        with self._lock:
            if self._stopping:
                return
            names = {c.name for c in cameras}
            now = time.monotonic()
            self._starts = {n: self._starts.get(n, now) for n in names}
            restart = (dict(settings) != self._settings or max_streams != self._max_streams
                       or not live_changes())
            if not restart and set(cameras) == set(self._cameras):
                return
            kept = {c.name: c for c in self._cameras}
            # a camera whose own options changed is a new camera to the pipeline
            self._cameras, self._settings = cameras, dict(settings)
            self._max_streams = max_streams
            write_node_file(self.file, cameras, self._settings)
            log.info("node %s: cameras %s", self.node, ", ".join(sorted(names)) or "none")
            if restart or len(cameras) > max_streams:
                self._restart = True
            elif any(kept.get(c.name, c) != c for c in cameras) or kept.keys() != names:
                self._reload = True

    def info(self) -> dict[str, Any]:
        """The node's name, cameras, its pipeline's pid (None when not running) and how
        many times it was started."""
        with self._lock:
            proc = self._proc
            return {"node": self.node, "node_id": self.node_id,
                    "cameras": [c.name for c in self._cameras],
                    "pid": proc.pid if proc is not None and proc.poll() is None else None,
                    "starts": self.restarts, "log": str(self._log_path)}

    def figures(self) -> dict[str, dict[str, Any]]:
        """Each camera's figures and ``state``: the state its pipeline computed
        (:mod:`streampose.observe.camera_state`; ``starting`` before the pipeline shows
        the camera), or ``failing`` (the pipeline keeps exiting soon after it starts: see
        its log)."""
        with self._lock:
            names = [c.name for c in self._cameras]
            port = self._port if self._running() else 0
            failing = self._failures >= FAILING_AFTER
        read = (read_figures(port) if port else None) or {}
        return {name: self._figure(name, read.get(name), failing) for name in names}

    def _figure(self, name: str, record: Mapping[str, Any] | None,
                failing: bool) -> dict[str, Any]:
        state = FAILING if failing else (record or {}).get("state") or STARTING
        out = {**(record or {}), "state": state, "node": self.node}
        if failing:
            out["log"] = str(self._log_path)
        return out

    def stop(self) -> None:
        """Stop the pipeline and the supervisor (before the actor is killed)."""
        with self._lock:
            self._stopping = True
        self._thread.join(timeout=STOP_TIMEOUT_S + 10)

    # -- the supervisor thread ---------------------------------------------------------------

    def _running(self) -> bool:
        return self._proc is not None and self._proc.poll() is None

    def _supervise(self) -> None:
        while True:
            if os.getppid() != self._raylet:
                self._fence()
                return
            with self._lock:
                stopping, cameras = self._stopping, self._cameras
                restart, reload = self._restart, self._reload
                self._restart = self._reload = False
            proc = self._proc
            if stopping or not cameras:
                if proc is not None:
                    self._terminate()
                if stopping:
                    return
            elif restart and proc is not None:
                self._terminate()
                self._start()
            elif proc is None or proc.poll() is not None:
                self._restart_exited()
            elif reload and catches_sighup(proc.pid):
                with contextlib.suppress(ProcessLookupError):
                    os.kill(proc.pid, signal.SIGHUP)
            time.sleep(TICK_S)

    def _fence(self) -> None:
        """The raylet is gone: stop processing now (SIGKILL of the pipeline's supervisor;
        its stages stop at their next check and clean up)."""
        proc = self._proc
        log.warning("node %s: lost its raylet; stopping its pipeline now", self.node)
        if proc is not None and proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.kill()

    def _restart_exited(self) -> None:
        proc = self._proc
        now = time.monotonic()
        if proc is not None:  # it exited on its own
            code = proc.returncode
            self._proc = None
            up = now - self._started
            self._failures = 0 if up > 60 else self._failures + 1
            delay = BACKOFF_S[min(self._failures, len(BACKOFF_S)) - 1] if self._failures else 0
            log.warning("node %s: the pipeline exited (code %s) after %.0f s; restarting "
                        "in %.0f s (log: %s)", self.node, code, up, delay, self._log_path)
            self._next_start = now + delay
        if now >= self._next_start:
            self._start()

    @property
    def _log_path(self) -> Path:
        return self.work_dir / "pipeline.log"

    def _command(self) -> list[str]:
        slots = max(1, self._max_streams, len(self._cameras))
        slots_args = ["--max-streams", str(slots)] if live_changes() else []
        return [sys.executable, "-m", "streampose.fleet.child", str(os.getpid()), "run",
                "--cameras", str(self.file), *slots_args,
                "--metrics-port", str(self._port), "--metrics-host", "127.0.0.1",
                "--mqtt-node", self.node, "--no-progress", "--log-level", "INFO",
                *self.run_args]

    def _start(self) -> None:
        self._port = _free_port()
        cmd = self._command()
        log_file: IO[bytes]
        with open(self._log_path, "ab") as log_file:
            log_file.write(f"\n--- {time.ctime()}: {' '.join(cmd)}\n".encode())
            log_file.flush()
            self._proc = subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=log_file,
                                          stderr=subprocess.STDOUT, start_new_session=True,
                                          cwd=self.work_dir)
        self._started = time.monotonic()
        self.restarts += 1
        log.info("node %s: pipeline started (pid %d)", self.node, self._proc.pid)

    def _terminate(self) -> None:
        proc, self._proc = self._proc, None
        if proc is None:
            return
        if proc.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)
        log.info("node %s: pipeline stopped (code %s)", self.node, proc.returncode)


@functools.lru_cache(maxsize=1)
def live_changes() -> bool:
    """Whether ``streampose run`` takes cameras while it runs (``--max-streams``: it
    re-reads its cameras file on a change); without it every change is a restart."""
    import argparse

    from streampose.config.arguments import add_run_arguments

    run = argparse.ArgumentParser()
    add_run_arguments(run)
    return any("--max-streams" in a.option_strings for a in run._actions)
