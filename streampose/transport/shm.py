"""Shared-memory segment and semaphore names, attachment and clean-up.

Only the supervisor creates and unlinks segments. Every name starts with the per-run
prefix ``sp-<pid>-<random hex>`` (:func:`run_prefix`), the pid being the supervisor's.
:func:`own_run_resources` gives the multiprocessing semaphores (locks, events, queues,
ring counters) the same prefix (``/dev/shm/sem.sp-<pid>-<hex>-sem-*``) and keeps the
run's segments and semaphores away from Python's resource tracker: the run unlinks them
itself, so a killed parent leaves no "leaked" warnings behind. Whatever a run that died
left (segments and semaphores) is removed by :func:`sweep_stale_segments`, at the next
start and by stages that outlive their parent; it only touches names whose pid is not
alive, never a concurrent run's. Stage processes attach without registering with the
resource tracker (:func:`attach_untracked`), which would otherwise unlink the
supervisor's segments.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import os
import re
import secrets
import sys
import threading
from collections.abc import Callable, Iterator
from multiprocessing import resource_tracker
from multiprocessing.shared_memory import SharedMemory
from typing import Any

__all__ = ["SHM_DIR", "attach_untracked", "own_run_resources", "run_prefix",
           "sweep_stale_segments"]

log = logging.getLogger(__name__)

SHM_DIR = "/dev/shm"
# What run_prefix() makes; a semaphore's file in /dev/shm has "sem." before its name.
_NAME_RE = re.compile(r"^(?:sem\.)?sp-(\d+)-[0-9a-f]{8}(?:-|$)")

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
    """Unlink the segments and semaphores of dead runs (``sp-<pid>-<hex>*`` and
    ``sem.sp-<pid>-<hex>*`` whose pid is not alive); return their names."""
    removed: list[str] = []
    try:
        names = sorted(os.listdir(shm_dir))
    except FileNotFoundError:
        return removed
    for name in names:
        match = _NAME_RE.match(name)
        if match is None or _pid_alive(int(match.group(1))):
            continue
        with contextlib.suppress(FileNotFoundError):
            os.unlink(os.path.join(shm_dir, name))
            removed.append(name)
            log.info("removed %s left by a run that died", name)
    return removed


def is_run_name(name: object) -> bool:
    """Whether ``name`` (a segment or semaphore name, with or without its leading "/")
    was made from a run prefix."""
    return _NAME_RE.match(str(name).lstrip("/")) is not None


def own_run_resources() -> None:
    """Name this process's multiprocessing semaphores after its run prefix, and keep the
    run's segments and semaphores out of the resource tracker (idempotent).

    multiprocessing names a semaphore ``<semprefix>-<random>`` (``/mp-...`` by default:
    nothing tells whose it is once its owner is dead); here the prefix becomes
    ``/<run_prefix()>-sem``, so :func:`sweep_stale_segments` finds what a killed run left.
    The resource tracker would unlink them too when the parent dies, but it warns about
    "leaked" objects as it does, and it dies with the process group anyway.
    """
    config = getattr(multiprocessing.current_process(), "_config", None)
    if isinstance(config, dict):
        config["semprefix"] = f"/{run_prefix()}-sem"
    else:  # pragma: no cover - a Python without the (private) setting
        log.debug("cannot name semaphores after the run: they keep multiprocessing's names")
    with _attach_lock:
        if not getattr(resource_tracker.register, "_streampose_filter", False):
            hooks = _untracked_run_names(resource_tracker.register, resource_tracker.unregister)
            for name, hook in zip(("register", "unregister"), hooks, strict=True):
                setattr(resource_tracker, name, hook)


Hook = Callable[[Any, str], None]


def _untracked_run_names(register: Hook, unregister: Hook) -> tuple[Hook, Hook]:
    """``resource_tracker.register``/``unregister`` that skip the names of a run (and
    later skip unregistering just those, so the tracker never hears of a name it does
    not hold)."""
    skipped: set[tuple[str, str]] = set()

    def register_others(name: Any, rtype: str) -> None:
        if is_run_name(name):
            skipped.add((str(name), rtype))
        else:
            register(name, rtype)

    def unregister_others(name: Any, rtype: str) -> None:
        if (str(name), rtype) in skipped:
            skipped.discard((str(name), rtype))
        else:
            unregister(name, rtype)

    register_others._streampose_filter = True  # type: ignore[attr-defined]
    return register_others, unregister_others


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
