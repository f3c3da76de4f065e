"""Waiting for a condition with a deadline (processes, servers, rings)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

import pytest


def wait_until(condition: Callable[[], Any], *, timeout: float, what: str,
               poll_s: float = 0.1) -> Any:
    """Poll ``condition`` until it returns something true, and return that; fail the test
    naming ``what`` after ``timeout`` seconds (a deadline, not a speed requirement)."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)
