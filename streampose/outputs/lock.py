"""One writer per output: an advisory lock per output path, held by the parent for the run.

Two runs writing the same file overwrite each other silently. Each run takes an
exclusive ``fcntl.flock`` on a small lock file named after the output's real path, in
a folder shared by every user of the machine (:data:`LOCK_DIR`); the kernel drops the
lock when the owner exits, however it dies, so a dead run never blocks a new one. A
run that finds an output locked logs a warning naming the other run's pid, or with
``--no-overwrite`` refuses to start (OutputError); ``--no-overwrite`` also refuses an
output that already exists. Lock files are removed when released.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import tempfile
from collections.abc import Sequence
from pathlib import Path

from streampose.config.sections import PipelineConfig
from streampose.errors import OutputError
from streampose.lifecycle import Resource
from streampose.outputs.registry import OUTPUTS

__all__ = ["LOCK_DIR", "OutputLocks", "lock_path", "refuse_existing", "run_outputs"]

log = logging.getLogger(__name__)

LOCK_DIR = Path(tempfile.gettempdir()) / "streampose-locks"


def lock_path(output: Path, folder: Path = LOCK_DIR) -> Path:
    """The lock file of ``output``: named by a hash of its real path (the same file
    reached through a symlink or a relative path gets the same lock)."""
    real = os.path.realpath(output)
    return folder / f"{hashlib.sha256(real.encode()).hexdigest()[:32]}.lock"


def run_outputs(config: PipelineConfig, streams: int, *,
                cameras: Sequence[str] | None = None,
                recorded: Sequence[bool] | None = None) -> list[tuple[str, Path]]:
    """Every file or folder a run of ``config`` with ``streams`` sources writes and locks
    (the sink registry's locked outputs), as (flag, path); ``cameras``: their names
    (``{camera}``), ``recorded``: whether each one's annotated video is written (default:
    every one)."""
    names = list(cameras) if cameras is not None else [None] * streams
    records = list(recorded) if recorded is not None else [True] * streams
    return [(output.flag, path) for output in OUTPUTS if output.locked
            for path in output.paths(config, names, records)]


def refuse_existing(outputs: Sequence[tuple[str, Path]]) -> None:
    """OutputError for the first output that exists (a folder: that holds files)."""
    for what, path in outputs:
        if path.is_file() or (path.is_dir() and any(path.iterdir())):
            raise OutputError(f"{what} {path}: exists, and --no-overwrite is set")


class OutputLocks(Resource):
    """Advisory locks on ``outputs`` ((what, path) pairs) while open; see the module
    docstring. ``refuse``: raise OutputError instead of warning when one is locked."""

    def __init__(self, outputs: Sequence[tuple[str, Path]], *, refuse: bool,
                 folder: Path = LOCK_DIR) -> None:
        self.outputs, self.refuse, self.folder = list(outputs), refuse, folder
        self._held: list[tuple[Path, int]] = []

    def open(self) -> OutputLocks:
        try:
            for what, path in self.outputs:
                self._lock(what, path)
        except BaseException:
            self.close()
            raise
        return self

    def close(self) -> None:
        while self._held:
            file, fd = self._held.pop()
            with contextlib.suppress(OSError):
                file.unlink()  # before unlocking: a waiting run then locks a new file
            os.close(fd)

    def _lock(self, what: str, path: Path) -> None:
        if not self._make_folder():
            return
        file = lock_path(path, self.folder)
        if any(held == file for held, _ in self._held):
            return  # the same output named twice
        try:
            fd = _try_lock(file)
        except OSError as exc:  # e.g. a lock file of another user, not writable by us
            log.warning("%s %s: cannot lock %s (%s): not checked against other runs",
                        what, path, file, exc.strerror or exc)
            return
        if fd is not None:
            with contextlib.suppress(OSError):
                os.fchmod(fd, 0o666)  # other users' runs can open it to test the lock
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()} {os.path.realpath(path)}\n".encode())
            self._held.append((file, fd))
            return
        owner = _owner(file)
        message = f"{what} {path}: another streampose run{owner} is writing it"
        if self.refuse:
            raise OutputError(message + " (--no-overwrite)")
        log.warning("%s; both write the same file (--no-overwrite refuses instead)", message)

    def _make_folder(self) -> bool:
        """Create the shared lock folder (sticky, writable by all); False if impossible,
        then runs go unlocked, with a warning."""
        try:
            self.folder.mkdir(exist_ok=True)
            if self.folder.stat().st_uid == os.getuid():
                self.folder.chmod(0o1777)
            return True
        except OSError as exc:
            log.warning("cannot create %s (%s): outputs are not locked against other runs",
                        self.folder, exc.strerror or exc)
            return False


def _try_lock(file: Path) -> int | None:
    """An fd holding the exclusive lock on ``file`` (created if needed), or None when
    another process holds it. Retries when the file was replaced while locking."""
    while True:
        fd = os.open(file, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return None
        except OSError:
            os.close(fd)
            raise
        try:
            if os.fstat(fd).st_ino == os.stat(file).st_ino:
                return fd
        except FileNotFoundError:
            pass
        os.close(fd)  # its owner removed it as we locked it: lock the new one


def _owner(file: Path) -> str:
    """`` (pid N)`` from the lock file, or nothing when it cannot be read."""
    try:
        pid = file.read_text().split()[0]
    except (OSError, IndexError):
        return ""
    return f" (pid {pid})" if pid.isdigit() else ""
