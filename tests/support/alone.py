"""One lock for a whole test run, shared by its pytest-xdist worker processes: the tests
marked ``alone`` take it exclusively, every other test takes it shared.

A turnstile keeps an ``alone`` test from waiting for ever: while it waits for the tests
running now to end, it holds the turnstile, which every other test passes first.
"""

from __future__ import annotations

import contextlib
import fcntl
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def run_lock(folder: Path, *, exclusive: bool) -> Iterator[None]:
    """Hold the run's lock (files in ``folder``, the folder every worker of the run
    shares), exclusively or shared, for the body of the ``with``."""
    with open(folder / "turnstile.lock", "a") as gate, open(folder / "tests.lock", "a") as lock:
        fcntl.flock(gate, fcntl.LOCK_EX)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH)
        finally:
            if not exclusive:
                fcntl.flock(gate, fcntl.LOCK_UN)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
            fcntl.flock(gate, fcntl.LOCK_UN)
