"""Which frames of a stream the network runs on (``--interval``)."""

from __future__ import annotations

import pytest

from streampose.planning.interval import Cadence, IntervalPolicy


def inferred(cadence: Cadence, stream: int, frames: int) -> list[int]:
    return [i for i in range(frames) if cadence.next(stream)]


@pytest.mark.parametrize(("interval", "frames"), [
    (0, list(range(8))), (1, [0, 2, 4, 6]), (2, [0, 3, 6]), (30, [0])])
def test_every_n_plus_1th_frame_is_inferred(interval: int, frames: list[int]) -> None:
    cadence = Cadence(policy=IntervalPolicy(interval), streams=1)
    assert inferred(cadence, 0, 8) == frames


def test_the_policy_is_a_pure_rule_on_frames_since_the_last_inferred() -> None:
    policy = IntervalPolicy(2)
    assert policy.infers(None)  # nothing inferred yet
    assert [policy.infers(since) for since in (1, 2, 3, 4)] == [False, False, True, True]


def test_each_stream_has_its_own_cadence() -> None:
    cadence = Cadence(policy=IntervalPolicy(1), streams=2)
    assert [cadence.next(0), cadence.next(0), cadence.next(1), cadence.next(0)] == \
        [True, False, True, True]
    assert cadence.next(1) is False


def test_a_new_camera_s_first_frame_is_inferred() -> None:
    cadence = Cadence(policy=IntervalPolicy(3), streams=1)
    assert cadence.next(0) and not cadence.next(0)
    cadence.restart(0)
    assert inferred(cadence, 0, 5) == [0, 4]
