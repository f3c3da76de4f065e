"""The steady-state rate: frames after the first one, over the time since it."""

from __future__ import annotations

import pytest

from streampose.stages import steady_rate
from streampose.stages.steady_rate import SteadyRate


def test_the_rate_leaves_the_first_frame_s_wait_out(monkeypatch: pytest.MonkeyPatch) -> None:
    clock = iter([100.0, 101.0, 102.0])
    monkeypatch.setattr(steady_rate.time, "monotonic", lambda: next(clock))
    rate = SteadyRate()
    assert rate.report() == {}
    rate.tick()
    assert rate.report() == {}  # one frame: no rate yet
    rate.tick()
    rate.tick()
    assert rate.report() == {"steady_fps": 1.0, "first_out_at": 100.0, "last_out_at": 102.0}


def test_frames_out_at_once_have_no_rate(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(steady_rate.time, "monotonic", lambda: 5.0)
    rate = SteadyRate()
    rate.tick()
    rate.tick()
    assert rate.report()["steady_fps"] is None
