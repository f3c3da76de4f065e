"""Shared-memory segment names, attachment and clean-up.

Only the supervisor creates and unlinks segments. Every name starts with the per-run
prefix ``sp-<pid>-<random hex>`` (:func:`run_prefix`), so segments left by a run that
died can be found and removed at the next start (:func:`sweep_stale_segments`). Stage
processes attach without registering with Python's resource tracker
(:func:`attach_untracked`), which would otherwise unlink the supervisor's segments.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import sys
import threading
from collections.abc import Iterator
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from typing import Any

__all__ = ["SHM_DIR", "attach_untracked", "run_prefix", "sweep_stale_segments"]

log = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"
_SEGMENT_RE = re.compile(r"^sp-(\d+)-[0-9a-f]{8}(?:-|$)")  # what run_prefix() makes

_prefix: tuple[int, str] | None = None


def run_prefix() -> str:
    """The per-run segment prefix ``sp-<pid>-<random hex>``, computed once per process."""
    global _prefix
    pid = os.getpid()
    if _prefix is None or _prefix[0] != pid:
        _prefix = (pid, f"sp-{pid}-{secrets.token_hex(4)}")
    return _prefix[1]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def sweep_stale_segments(shm_dir: str = SHM_DIR) -> list[str]:
    """Unlink segments named ``sp-<pid>-*`` whose pid is not alive; return their names."""
    removed: list[str] = []
    try:
        names = sorted(os.listdir(shm_dir))
    except FileNotFoundError:
        return removed
    for name in names:
        match = _SEGMENT_RE.match(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(shm_dir, name))
            removed.append(name)
            log.info("removed stale shared-memory segment %s", name)
    return removed


_attach_lock = threading.Lock()


@contextlib.contextmanager
def _tracker_ignoring(shm_name: str) -> Iterator[None]:
    """Make ``resource_tracker.register`` skip one shared-memory name (Python < 3.13).

    Under spawn, children share the parent's resource tracker, which keeps a *set* of
    names: a child that registered and then unregistered would erase the supervisor's
    own registration (and concurrent attachers make the tracker print KeyErrors), so the
    child must never register at all.
    """
    original = resource_tracker.register

    def register(name: Any, rtype: str) -> None:
        if rtype != "shared_memory" or str(name).lstrip("/") != shm_name:
            original(name, rtype)

    with _attach_lock:
        resource_tracker.register = register
        try:
            yield
        finally:
            resource_tracker.register = original


def attach_untracked(shm_name: str) -> SharedMemory:
    """Attach to an existing segment without telling the resource tracker."""
    if sys.version_info >= (3, 13):
        return SharedMemory(name=shm_name, create=False, track=False)
    with _tracker_ignoring(shm_name):
        return SharedMemory(name=shm_name, create=False)
