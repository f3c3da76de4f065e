"""Loopback TCP ports for test servers, safe when pytest-xdist runs tests side by side.

A port found by binding to port 0 comes from the kernel's ephemeral range: another
worker (or an outgoing connection's local end) may take it between the moment it is
found and the moment the test's server binds it. :func:`free_port` instead hands out
ports from a block of its own per xdist worker (``PYTEST_XDIST_WORKER`` = ``gw0``,
``gw1``, ...), below the ephemeral range, so two workers never pick the same port and
the kernel never gives one away; each candidate is still checked with a bind (another
program, or a test run beside this one, may hold it).
"""

from __future__ import annotations

import itertools
import os
import random
import socket

__all__ = ["free_port"]

FIRST = 20000  # below Linux's ephemeral range (32768-60999 by default)
BLOCK = 500  # ports per worker: gw0 gets 20000-20499, gw1 20500-20999, ...
WORKERS = 24  # blocks up to 31999


def _worker_index() -> int:
    """This xdist worker's number (0 without xdist)."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "gw0")
    digits = name.removeprefix("gw")
    return int(digits) % WORKERS if digits.isdigit() else 0


def _candidates() -> itertools.cycle[int]:
    """This worker's block, from a random start (two test runs beside each other then
    rarely try the same ports in the same order)."""
    first = FIRST + BLOCK * _worker_index()
    start = random.randrange(BLOCK)
    return itertools.cycle([first + (start + i) % BLOCK for i in range(BLOCK)])


_ports = _candidates()


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """A TCP port on 127.0.0.1 that is free now and that no other xdist worker of this
    run will hand out (a different one on every call, until this worker's block of
    ``BLOCK`` ports wraps round)."""
    for _ in range(BLOCK):
        port = next(_ports)
        if _bindable(port):
            return port
    raise OSError(f"no free loopback port in this worker's block of {BLOCK}")
