"""Will the run's shared memory fit? Checked in the parent before any stage starts.

The rings are allocated up front (:meth:`~streampose.runtime.topology.Topology.ring_bytes`
says how much); they live in ``/dev/shm`` (a tmpfs backed by RAM), so they must fit both
the free space there and the memory available. A run that does not fit is refused with
one line naming the size and the options that set it, instead of a stage failing later
on an allocation of many gigabytes.
"""

from __future__ import annotations

import os
from pathlib import Path

from streampose.errors import ConfigError

__all__ = ["available_memory", "check_fits", "shm_free"]

MEMINFO = Path("/proc/meminfo")
SHM = Path("/dev/shm")


def available_memory(meminfo: Path = MEMINFO) -> int | None:
    """Bytes of memory available for new allocations (``MemAvailable``), or free pages
    where there is no /proc/meminfo; None when neither is known."""
    try:
        for line in meminfo.read_text().splitlines():
            key, _, value = line.partition(":")
            if key == "MemAvailable":
                return int(value.split()[0]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, AttributeError):
        return None


def shm_free(folder: Path = SHM) -> int | None:
    """Bytes free in the shared-memory filesystem; None when it cannot be read."""
    try:
        stat = os.statvfs(folder)
    except OSError:
        return None
    return stat.f_bavail * stat.f_frsize


def check_fits(ring_bytes: int, *, memory: int | None, shm: int | None,
               sizes: str) -> None:
    """ConfigError when ``ring_bytes`` exceed the ``memory`` available or the ``shm``
    free (None: unknown, not checked); ``sizes`` says what set the size (the options)."""
    for limit, where in ((shm, f"free in {SHM}"), (memory, "of memory available")):
        if limit is not None and ring_bytes > limit:
            raise ConfigError(f"this run needs {_gib(ring_bytes)} of shared memory for its "
                              f"buffers but only {_gib(limit)} is {where} ({sizes}); "
                              "lower --height, --batch, --max-frame-size or the number of "
                              "sources")


def _gib(n: int) -> str:
    return f"{n / 2 ** 30:.1f} GiB" if n >= 2 ** 30 else f"{n / 2 ** 20:.0f} MiB"
