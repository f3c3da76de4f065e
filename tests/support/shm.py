"""Shared-memory checks: the segments a process holds in /dev/shm.

A check looks at one run's names only (``sp-<pid>-``, the pid of the run's supervisor):
under pytest-xdist other runs, live or killed, own /dev/shm entries at the same time, and
any run that starts sweeps what dead runs left (plant test entries in a folder of the
test's own and pass it to ``sweep_stale_segments``).
"""

from __future__ import annotations

import os
from pathlib import Path

SHM = Path("/dev/shm")


def shm_segments(pid: int | None = None) -> list[str]:
    """Names of the shared-memory segments of process ``pid`` (default: this one), sorted."""
    prefix = f"sp-{os.getpid() if pid is None else pid}-"
    return sorted(name for name in os.listdir(SHM) if name.startswith(prefix))
