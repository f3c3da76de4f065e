"""Client-triggered log lines: the first of a burst, then a count."""

from __future__ import annotations

import logging

import pytest

from streampose.console.burst import BurstLog


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_one_line_then_one_count(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    burst = BurstLog(logging.getLogger("test.burst"), quiet_s=10.0, clock=clock)
    with caplog.at_level(logging.INFO, logger="test.burst"):
        for _ in range(26_000):
            burst.log("accept", logging.WARNING, "console: cannot accept: %s", "EMFILE")
            burst.flush()
        assert len(caplog.records) == 1
        assert "cannot accept: EMFILE" in caplog.records[0].getMessage()
        clock.now += 10.0
        burst.flush()
        assert len(caplog.records) == 2 and "25999 more" in caplog.records[1].getMessage()
        burst.log("accept", logging.WARNING, "console: cannot accept: %s", "EMFILE")
        assert len(caplog.records) == 3  # a new burst


def test_kinds_are_counted_apart(caplog: pytest.LogCaptureFixture) -> None:
    burst = BurstLog(logging.getLogger("test.burst"), clock=Clock())
    with caplog.at_level(logging.INFO, logger="test.burst"):
        for kind in ["a", "b", "a", "b"]:
            burst.log(kind, logging.ERROR, "console: %s", kind)
        burst.flush(everything=True)
    assert [r.getMessage().split(" (")[0] for r in caplog.records] == [
        "console: a", "console: b", "1 more in 10 s like: console: a",
        "1 more in 10 s like: console: b"]


def test_only_the_first_of_a_burst_has_a_traceback(caplog: pytest.LogCaptureFixture) -> None:
    burst = BurstLog(logging.getLogger("test.burst"), clock=Clock())
    with caplog.at_level(logging.INFO, logger="test.burst"):
        for _ in range(5):
            burst.log("x", logging.ERROR, "console: oops", exc_info=ValueError("x"))
        burst.flush(everything=True)
    assert [r.exc_info is not None for r in caplog.records] == [True, False]
