"""Which frames' poses are published: every Nth frame, at most R per second by pts."""

from __future__ import annotations

import itertools

import pytest

from streampose.mqtt.gate import FrameGate


def admitted(gate: FrameGate, times: list[float]) -> list[int]:
    return [i for i, t in enumerate(times) if gate.admit(t)]


def test_every_nth_frame_starting_with_the_first() -> None:
    assert admitted(FrameGate(every=3), [i / 25 for i in range(10)]) == [0, 3, 6, 9]
    assert admitted(FrameGate(), [0.0, 0.0, 0.0]) == [0, 1, 2]


def test_max_rate_keeps_frames_at_least_one_period_apart() -> None:
    times = [i / 25 for i in range(100)]  # 4 s at 25 fps
    kept = [times[i] for i in admitted(FrameGate(max_rate=4), times)]
    assert kept[:4] == pytest.approx([0.0, 0.28, 0.56, 0.84])  # 0.25 s is not a frame time
    gaps = [b - a for a, b in itertools.pairwise(kept)]
    assert min(gaps) >= 0.25 - 1e-9
    for start in times:  # no one-second window holds more than 4
        assert sum(start <= t < start + 1 for t in kept) <= 4


def test_max_rate_at_an_exact_multiple_of_the_frame_rate() -> None:
    assert admitted(FrameGate(max_rate=5), [i * 0.04 for i in range(26)]) == [0, 5, 10, 15,
                                                                            20, 25]


def test_a_clock_that_restarts_starts_afresh() -> None:
    # a camera reconnected and its presentation times began again at 0
    assert admitted(FrameGate(max_rate=1), [10.0, 10.5, 11.0, 0.0, 0.5, 1.0]) == [0, 2, 3, 5]


def test_every_and_max_rate_together() -> None:
    assert admitted(FrameGate(every=2, max_rate=2), [i / 10 for i in range(12)]) == [0, 6]


@pytest.mark.parametrize("kwargs", [{"every": 0}, {"max_rate": 0.0}, {"max_rate": -1.0}])
def test_bad_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        FrameGate(**kwargs)  # type: ignore[arg-type]
