"""Shared-memory checks: the segments a process holds in /dev/shm."""

from __future__ import annotations

import os
from pathlib import Path

SHM = Path("/dev/shm")


def shm_segments(pid: int | None = None) -> list[str]:
    """Names of the shared-memory segments of process ``pid`` (default: this one), sorted."""
    prefix = f"sp-{os.getpid() if pid is None else pid}-"
    return sorted(name for name in os.listdir(SHM) if name.startswith(prefix))
