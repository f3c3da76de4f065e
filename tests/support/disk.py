"""A full disk (faults tests): a small tmpfs filled up to a given free space."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest


@contextmanager
def full_disk(folder: Path, *, free: int = 0, size: int = 1 << 20) -> Iterator[Path]:
    """A tmpfs of ``size`` bytes mounted at ``folder`` and filled until ``free`` bytes
    are left; unmounted afterwards. Skips the test without root or ``mount``."""
    if os.geteuid() != 0:
        pytest.skip("needs root to mount a small tmpfs (full-disk tests)")
    folder.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs",
                              str(folder)], capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {mounted.stderr.strip()}")
    try:
        _fill(folder / ".filler", free)
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)


def _fill(filler: Path, free: int) -> None:
    """Write ``filler`` until the file system has about ``free`` bytes left."""
    with open(filler, "wb") as f:
        while True:
            left = os.statvfs(filler.parent).f_bavail * os.statvfs(filler.parent).f_frsize
            if left <= free:
                return
            try:
                f.write(bytes(min(left - free, 1 << 16)))
                f.flush()
            except OSError:
                return
