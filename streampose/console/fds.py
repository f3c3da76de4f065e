"""How many file descriptors this process may still open.

The console runs in the run's parent, which must always be able to open its own outputs
(the summary, above all) however many clients connect. :func:`free_fds` is the soft
``RLIMIT_NOFILE`` minus the descriptors open now (``/proc/self/fd``); the console refuses
or sheds connections while it is below a reserve (:class:`~streampose.console.gate.Gate`).
"""

from __future__ import annotations

import os
import resource

__all__ = ["fd_limit", "free_fds", "open_fds"]

PROC_FDS = "/proc/self/fd"


def fd_limit() -> int:
    """The soft limit on open descriptors (a large number when unlimited)."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    return soft if soft != resource.RLIM_INFINITY else 1 << 30


def open_fds() -> int | None:
    """Descriptors open now, or None where ``/proc`` cannot tell (listing it takes one
    descriptor for a moment: with none free, that fails and says so)."""
    try:
        return len(os.listdir(PROC_FDS)) - 1  # less the one listing the directory
    except OSError:
        return None


def free_fds() -> int:
    """How many more descriptors this process may open now (0 when it cannot tell
    because it has none left)."""
    count = open_fds()
    return 0 if count is None else max(0, fd_limit() - count)
